/** The answerer the configuration names. */
import { readFileSync } from 'node:fs';
import type { AnswererConfig } from '../config/schema.ts';
import type { Answerer } from './answerer.ts';
import { LocalAnswerer } from './local-answerer.ts';
import { VllmAnswerer } from './vllm-answerer.ts';

export async function createAnswerer(config: AnswererConfig): Promise<Answerer> {
  switch (config.type) {
    case 'local':
      return LocalAnswerer.open({
        qwen: config.qwen,
        device: config.device,
        dtype: config.dtype,
        maxNewTokens: config.maxNewTokens,
        maxPromptTokens: config.maxPromptTokens,
        stopTokens: config.stopTokens,
        intraOpThreads: config.threads,
      });
    case 'vllm':
      return VllmAnswerer.open({
        qwen: config.qwen,
        baseUrl: config.baseUrl,
        model: config.model,
        maxNewTokens: config.maxNewTokens,
        maxPromptTokens: config.maxPromptTokens,
        stopTokens: config.stopTokens,
        timeoutMs: config.timeoutMs,
        retries: config.retries,
        backoffMs: config.backoffMs,
        device: config.device,
        ...(config.apiKeyFile && { apiKey: readFileSync(config.apiKeyFile, 'utf8').trim() }),
      });
  }
}
