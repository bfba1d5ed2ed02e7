/**
 * Answering CloudFormation for the first-rotation custom resource: the event,
 * the response, and the PUT to the presigned ResponseURL.
 *
 * Why not the CDK Provider framework: it adds a second function per stack
 * (its own role with AWSLambdaBasicExecutionRole, i.e. logs on *, and
 * lambda:InvokeFunction on `<our function>:*`, two more cdk-nag findings to
 * suppress) to do what the 60 lines below do, retries included. Its one
 * gain, answering when our function crashes, is the custom resource's
 * service timeout's job.
 */
import * as http from 'http';
import * as https from 'https';
import { redact } from '../core/redact';
import { log, LogFields } from './log';

/** What CloudFormation sends to a custom resource's function. */
export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceType?: string;
  readonly ResourceProperties?: Record<string, unknown>;
  /** Update only: the properties before the change. */
  readonly OldResourceProperties?: Record<string, unknown>;
}

/** The body PUT to the ResponseURL. */
export interface CustomResourceResponse {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason: string;
  readonly PhysicalResourceId: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly Data?: Record<string, string>;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** CloudFormation rejects response bodies over 4 KiB. */
const MAX_REASON_LENGTH = 2_000;

/** How a custom resource's function answers, and the log line it writes about it. */
export interface Answer {
  readonly status: CustomResourceResponse['Status'];
  /** Redacted and cut to MAX_REASON_LENGTH here: it may quote a library's error. */
  readonly reason: string;
  readonly physicalResourceId: string;
  /** The log message, e.g. `initial rotation: responding`, and the request's fields. */
  readonly logMessage: string;
  readonly logFields: LogFields;
  readonly retryDelaysMs?: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Builds the response for `event`, logs it (INFO on success, ERROR on failure) and sends it; returns what was sent. */
export async function answer(event: CustomResourceEvent, a: Answer): Promise<CustomResourceResponse> {
  let reason = redact(a.reason);
  if (reason.length > MAX_REASON_LENGTH) reason = `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
  const response: CustomResourceResponse = {
    Status: a.status,
    Reason: reason,
    PhysicalResourceId: a.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  };
  (a.status === 'SUCCESS' ? log.info : log.error)(a.logMessage, { ...a.logFields, status: a.status, reason });
  await sendResponse(event.ResponseURL, response, a.retryDelaysMs ?? [1_000, 3_000], a.sleep ?? sleepFor);
  return response;
}

/**
 * PUTs the response to CloudFormation's presigned S3 URL: https only, except
 * http://127.0.0.1 or http://localhost for tests. Retried; if every attempt
 * fails it throws, so that Lambda's retry of the asynchronous invocation runs
 * the (idempotent) request again.
 */
export async function sendResponse(
  responseUrl: string,
  response: CustomResourceResponse,
  retryDelaysMs: readonly number[] = [1_000, 3_000],
  sleep: (ms: number) => Promise<void> = sleepFor,
): Promise<void> {
  const url = new URL(responseUrl);
  const local = url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost');
  if (url.protocol !== 'https:' && !local) {
    throw new Error(`ResponseURL must be https, got ${url.protocol}//${url.host}`);
  }
  const body = JSON.stringify(response);
  for (let attempt = 1; ; attempt++) {
    try {
      await put(url, body, local ? http.request : https.request);
      return;
    } catch (err) {
      // The URL is a presigned S3 URL: log its host only.
      log.warn('initial rotation: could not send the response to CloudFormation', {
        host: url.host,
        attempt,
        error: (err as Error).message,
      });
      if (attempt > retryDelaysMs.length) throw err;
      await sleep(retryDelaysMs[attempt - 1]);
    }
  }
}

function put(url: URL, body: string, request: typeof https.request): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'PUT',
        // S3 presigned for an empty content type: any other value breaks the signature.
        headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve();
          else reject(new Error(`HTTP ${code}`));
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timed out after 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}
