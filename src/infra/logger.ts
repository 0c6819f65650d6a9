// The logger (pino), with secrets kept out: cookies, auth headers, passwords and reset tokens in URLs.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** Link tokens (reset, invitation, address links) travel in the path of the link; the log keeps the path with the token masked. */
export function maskTokens(url: string): string {
  return url
    .replace(/(\/(?:reset-password|invitation|confirm-email|undo-email-change)\/)(?!(?:new|confirm)(?:[/?#]|$))[^/?#]+/g, '$1[token]')
    .replace(/([?&]token=)[^&#]*/g, '$1[token]');
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]', '*.password', '*.token'],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: { method: string; url: string; id?: string; ip?: string }) => ({ method: req.method, url: maskTokens(req.url), ip: req.ip }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}
