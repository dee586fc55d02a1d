import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfigFile } from '../config-file';
import { locateConfig } from '../config-location';
import { InvalidInputError } from '../domain/validation';
import { createLogger } from '../logger';
import { connectionOptions, temporalEnv } from '../temporal-settings';
import { clientTracing, tracingFromEnv } from '../tracing';
import { receiverAuthFromEnv } from './alert-auth';
import { createAlertReceiver } from './alert-receiver';
import { receiverEnv } from './receiver-env';
import { dataConverterFromEnv } from '../security/codec';

/**
 * The alert receiver process: Alertmanager / Grafana webhooks in, `alert` signals to the services'
 * detection workflows out. Runs until SIGINT/SIGTERM, then finishes the requests under way.
 */
export async function runAlertReceiver(): Promise<void> {
  const env = temporalEnv();
  const listen = receiverEnv().ALERT_RECEIVER_LISTEN;
  const logger = createLogger('alert-receiver');
  const configFile = locateConfig(undefined, process.env).file;
  const config = loadConfigFile(configFile);
  if (!config.alerting) {
    throw new Error(`config ${configFile} has no "alerting" section; add one (at least alerting.receiver.token_env or hmac_secret_env), see docs/alerts.md`);
  }
  // Secrets before the connection: a missing one fails at once, naming the variable.
  const auth = receiverAuthFromEnv(config.alerting.receiver);
  const address = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const connection = await Connection.connect(connectionOptions(env, address)).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${address} (TEMPORAL_ADDRESS): ${err.message}`);
  });
  const tracing = tracingFromEnv('alert-receiver');
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE, ...clientTracing(tracing), dataConverter: dataConverterFromEnv() });
  const receiver = createAlertReceiver({
    alerting: config.alerting,
    services: config.services,
    client,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    auth,
    logger,
    ...(tracing ? { tracer: tracing.tracer } : {}),
  });
  let url: string;
  try {
    url = await receiver.listen(listen ?? config.alerting.receiver.listen);
  } catch (err) {
    await connection.close();
    throw err;
  }
  logger.info(
    {
      url,
      temporal: address,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      config: path.resolve(configFile),
      auth: [...(auth.token ? ['bearer'] : []), ...(auth.hmacSecret ? ['hmac'] : [])],
      routes: config.alerting.routes.length,
      tracing: tracing ? 'on (OTEL_*)' : 'off',
    },
    'alert receiver started',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'alert receiver stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await receiver.close();
  await connection.close();
  await tracing?.shutdown().catch(() => undefined);
  logger.info({ stats: receiver.stats() }, 'alert receiver stopped');
}

if (require.main === module) {
  runAlertReceiver().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    // A bad or missing config is bad input (exit 2), as for the CLI and the worker.
    process.exit(err instanceof InvalidInputError ? 2 : 1);
  });
}
