/**
 * A local HTTP server standing in for vLLM's OpenAI-compatible server started
 * with --enable-mm-embeds. It checks a chat request the way vLLM's parser and
 * image-embedding loader do (content part layout, strict base64, .npy magic
 * and header, float32 [N, hidden] embeddings, int64 [1, 3] grid with
 * N = t*h*w/4) and answers 400 with vLLM's error body when something is off.
 * Tests script failures with `plan` (status codes, a malformed body, a hang).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeNpy } from '../../cloud/answer/npy.ts';

export type Step = { status: number } | 'malformed' | 'hang' | 'ok';

export interface ReceivedRequest {
  rows: number;
  width: number;
  grid: number[];
  prompt: string;
  maxTokens: number;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class FakeVllm {
  readonly received: ReceivedRequest[] = [];
  /** Consumed one per request; 'ok' once it runs out. */
  plan: Step[] = [];
  attempts = 0;
  readonly #server: Server;
  readonly #hidden: number;
  readonly #model: string;

  private constructor(server: Server, hidden: number, model: string) {
    this.#server = server;
    this.#hidden = hidden;
    this.#model = model;
  }

  static async start(options: { hidden: number; model: string }): Promise<FakeVllm> {
    let fake: FakeVllm | undefined;
    const server = createServer((request, response) => void fake!.handle(request, response));
    fake = new FakeVllm(server, options.hidden, options.model);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.attempts++;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const step = this.plan.shift() ?? 'ok';
    if (step === 'hang') return; // never answers; the client's timeout must fire
    if (step === 'malformed') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "x", "choices": "none"}');
      return;
    }
    if (typeof step === 'object') {
      this.error(response, step.status, `scripted failure ${step.status}`);
      return;
    }
    if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
      this.error(response, 404, `no route ${request.method} ${request.url}`);
      return;
    }
    try {
      const received = this.validate(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      this.received.push(received);
      response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: `chatcmpl-${this.received.length}`,
          object: 'chat.completion',
          model: this.#model,
          choices: [{ index: 0, message: { role: 'assistant', content: `saw ${received.rows}x${received.width} embeddings for: ${received.prompt}` }, finish_reason: 'stop' }],
          usage: { prompt_tokens: received.rows + 20, completion_tokens: 7, total_tokens: received.rows + 27 },
        }),
      );
    } catch (error) {
      this.error(response, 400, (error as Error).message);
    }
  }

  // biome-ignore lint/suspicious/noExplicitAny: a request body from the wire, checked field by field below
  private validate(body: any): ReceivedRequest {
    if (body.model !== this.#model) throw new Error(`The model \`${body.model}\` does not exist.`);
    if (!Array.isArray(body.messages) || body.messages.length !== 1) throw new Error('expected one message');
    const content = body.messages[0].content;
    if (body.messages[0].role !== 'user' || !Array.isArray(content)) throw new Error('expected a user message with content parts');
    const embedsPart = content.find((p: { type?: unknown }) => p.type === 'image_embeds');
    const textPart = content.find((p: { type?: unknown }) => p.type === 'text');
    if (!embedsPart || !textPart || typeof textPart.text !== 'string') throw new Error('expected an image_embeds part and a text part');
    const { image_embeds: embeds, image_grid_thw: gridText } = embedsPart.image_embeds ?? {};
    for (const [name, value] of [
      ['image_embeds', embeds],
      ['image_grid_thw', gridText],
    ] as const) {
      if (typeof value !== 'string' || !BASE64.test(value)) throw new Error(`${name}: Incorrect padding or non-base64 characters`);
    }
    const tensor = decodeNpy(Buffer.from(embeds, 'base64'));
    const grid = decodeNpy(Buffer.from(gridText, 'base64'));
    if (tensor.descr !== '<f4' || tensor.shape.length !== 2 || tensor.shape[1] !== this.#hidden) {
      throw new Error(`image_embeds must be float32 [N, ${this.#hidden}], got ${tensor.descr} [${tensor.shape.join(', ')}]`);
    }
    if (grid.descr !== '<i8' || grid.shape.join(',') !== '1,3') throw new Error(`image_grid_thw must be int64 [1, 3], got ${grid.descr} [${grid.shape.join(', ')}]`);
    const [t, h, w] = Array.from(grid.data as BigInt64Array, Number);
    if ((t! * h! * w!) / 4 !== tensor.shape[0]) throw new Error(`image_grid_thw ${t}x${h}x${w} implies ${(t! * h! * w!) / 4} embeddings, got ${tensor.shape[0]}`);
    if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) throw new Error('max_tokens must be a positive integer');
    return { rows: tensor.shape[0]!, width: tensor.shape[1]!, grid: [t!, h!, w!], prompt: textPart.text, maxTokens: body.max_tokens };
  }

  private error(response: ServerResponse, status: number, message: string): void {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'error', message, type: 'BadRequestError', param: null, code: status }));
  }
}
