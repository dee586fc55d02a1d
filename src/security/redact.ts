/**
 * Log paths pino replaces with "[redacted]": credentials in request headers (alert receiver, MCP, the
 * webhook router), secrets resolved from the environment, and payload-codec keys. Config holds only
 * variable names, but a secret can still reach a log line through an error or a request object.
 */
const SECRET_FIELDS = ['password', 'token', 'secret', 'authorization', 'cookie', 'apiKey', 'api_key', 'hmacSecret', 'bearer', 'codecKeys'];
const HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-signature', 'x-grafana-alerting-signature'];

export const REDACT_PATHS: string[] = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  ...HEADERS.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `req.headers["${h}"]`, `*.req.headers["${h}"]`]),
];

export const REDACT = { paths: REDACT_PATHS, censor: '[redacted]' };
