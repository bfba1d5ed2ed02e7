/**
 * Running the shipped first-rotation bundle as CloudFormation would: a local
 * endpoint that receives the custom resource's responses (its ResponseURL), and
 * one invocation of the bundle with only AWS settings and its config, every AWS
 * call going through the RotateSecret interceptor.
 */
import { createServer } from 'http';
import { AddressInfo } from 'net';
import { CustomResourceEvent, CustomResourceResponse } from '../../functions/cfn-response';
import { FunctionBundle, InitialRotationFunctionConfig } from '../../lib/contract';
import { functionConfigEnv, LocalStack } from '../support/local-stack';
import { RotateSecretInterceptor } from '../support/rotate-secret-interceptor';

export interface ResponseEndpoint {
  /** The ResponseURL to put in events. */
  readonly url: string;
  /** Every response received, in order. */
  readonly received: CustomResourceResponse[];
  stop(): Promise<void>;
}

export async function startResponseEndpoint(): Promise<ResponseEndpoint> {
  const received: CustomResourceResponse[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body) as CustomResourceResponse);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/response`,
    received,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Runs the bundle for `event`; it must answer CloudFormation exactly once, and that answer is returned. */
export async function invokeFirstRotation(
  stack: LocalStack,
  interceptor: RotateSecretInterceptor,
  responses: ResponseEndpoint,
  event: CustomResourceEvent,
  config: InitialRotationFunctionConfig,
): Promise<CustomResourceResponse> {
  const before = responses.received.length;
  const out = await stack.invokeFunction(FunctionBundle.INITIAL_ROTATION, event, {
    awsOnly: true,
    env: { ...functionConfigEnv(config), AWS_ENDPOINT_URL: interceptor.endpoint },
    timeoutMs: 150_000,
  });
  if (!out.ok) throw new Error(`first-rotation function failed: ${out.error.name}: ${out.error.message}`);
  expect(responses.received).toHaveLength(before + 1);
  return responses.received[before];
}
