import { ApplicationFailure, Context } from '@temporalio/activity';
import { readConfigFile } from '../config-file';
import { configHash } from '../domain/config-diff';

/**
 * The config file each worker of this process was started with, by task queue. The supervisor
 * reads it through a local activity (on the worker that runs it) when asked to apply "the worker's
 * file": what is applied then comes from that host's file system, never from the request.
 */
const files = new Map<string, string>();

export function registerWorkerConfigFile(taskQueue: string, file: string): () => void {
  files.set(taskQueue, file);
  return () => {
    if (files.get(taskQueue) === file) files.delete(taskQueue);
  };
}

export async function workerConfigFile(): Promise<{ file: string; raw: unknown; hash: string }> {
  const taskQueue = Context.current().info.taskQueue;
  const file = files.get(taskQueue);
  if (!file)
    throw ApplicationFailure.nonRetryable(`the worker running the supervisor of ${taskQueue} was not started with a config file to apply`, 'NoConfigFile');
  let raw: unknown;
  try {
    raw = readConfigFile(file).raw;
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `config file ${file} on the worker running the supervisor is invalid: ${(err as Error).message}`,
      'InvalidConfigFile',
    );
  }
  return { file, raw, hash: configHash(raw as never) };
}
