/**
 * The pieces the local proxies in front of moto share: naming the AWS
 * operation of a request, answering with an AWS-shaped error, and forwarding
 * to moto with an optional rewrite of the answer.
 */
import * as http from 'http';

/** The JSON protocol's operation (`UpdateService` from `…ServiceV20141113.UpdateService`), else `METHOD /path`. */
export function operationOf(req: http.IncomingMessage): string {
  const target = String(req.headers['x-amz-target'] ?? '');
  return target.slice(target.lastIndexOf('.') + 1) || `${req.method} ${req.url}`;
}

/** Answers like an AWS JSON-protocol service error, which the SDK turns into an exception named `type`. */
export function answerAwsError(res: http.ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ __type: type, message }));
}

/**
 * Forwards the request to `upstream`. With `rewrite`, a 200 answer's body is
 * replaced by what it returns (a failed rewrite answers 500); other answers
 * pass through untouched.
 */
export function forwardToUpstream(
  req: http.IncomingMessage,
  body: Buffer,
  res: http.ServerResponse,
  upstream: URL,
  rewrite?: (text: string) => string | Promise<string>,
): void {
  const forward = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: upstream.host },
    },
    (up) => {
      if (rewrite === undefined || up.statusCode !== 200) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const parts: Buffer[] = [];
      up.on('data', (c: Buffer) => parts.push(c));
      up.on('end', () => {
        Promise.resolve()
          .then(() => rewrite(Buffer.concat(parts).toString('utf8')))
          .then(
            (text) => {
              const headers = { ...up.headers, 'content-length': String(Buffer.byteLength(text)) };
              delete headers['transfer-encoding'];
              res.writeHead(200, headers);
              res.end(text);
            },
            (err: Error) => answerAwsError(res, 500, 'InternalServiceError', `local proxy rewrite failed: ${err.message}`),
          );
      });
    },
  );
  forward.on('error', (err) => {
    res.writeHead(502);
    res.end(String(err));
  });
  forward.end(body);
}
