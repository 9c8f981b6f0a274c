/** Child processes of the bench: killed when the bench exits, however it exits (they may sit in a namespace that is gone). */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function spawnChild(command: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command[0]!, command.slice(1), options);
  live.add(child);
  child.once('close', () => live.delete(child));
  return child;
}
