/**
 * Opens one of a manifest's ONNX files with onnxruntime-node and checks that
 * its input and output names are the ones the manifest promises, so a model
 * folder assembled from mismatched files fails at start, not per frame.
 */
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from './load.ts';
import { ManifestError } from './load.ts';
import type { ModelRole } from './schema.ts';

export interface SessionOptions {
  /** Threads inside one operator; the daemon's main knob on a small board. */
  intraOpThreads?: number;
  executionProviders?: string[];
  /**
   * No memory pattern, and no CPU memory arena unless `arena` is true:
   * onnxruntime then frees each run's intermediate tensors instead of keeping
   * the largest run's worth reserved (the edge daemon, where resident memory
   * is counted).
   */
  lowMemory?: boolean;
  /**
   * With lowMemory: keep the CPU arena all the same (the edge's
   * `model.arena`, true unless set). Measured on the edge daemon with the full
   * model (bench/results/footprint.md): the arena holds about 10 MB more, and
   * without it each run maps and faults in its tensors afresh (blocks over
   * 64 KiB are mmap'd under the unit's malloc settings): the model's run
   * takes about 2.5x as long.
   */
  arena?: boolean;
}

export async function openSession(model: LoadedModel, role: ModelRole, options: SessionOptions) {
  const path = model.paths[role];
  const file = model.manifest.files[role];
  if (!path || !file) throw new ManifestError(`${model.directory}: the ${role} model was not loaded`);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: options.intraOpThreads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      executionProviders: options.executionProviders ?? ['cpu'],
      ...(options.lowMemory && { enableCpuMemArena: options.arena === true, enableMemPattern: false }),
    });
  } catch (error) {
    throw new ManifestError(`${path}: onnxruntime cannot load it (${(error as Error).message})`);
  }
  const inputName = file.inputs[0]!.name;
  const outputName = file.outputs[0]!.name;
  if (!session.inputNames.includes(inputName) || !session.outputNames.includes(outputName)) {
    await session.release();
    throw new ManifestError(
      `${path}: has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], ` + `the manifest expects input ${inputName} and output ${outputName}`,
    );
  }
  return { session, inputName, outputName };
}
