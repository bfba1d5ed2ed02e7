import { withRequestId } from '../../functions/entry/with-request-id';
import { log } from '../../functions/log';

describe('withRequestId', () => {
  let lines: string[];
  let spy: jest.SpyInstance;
  beforeEach(() => {
    lines = [];
    spy = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      lines.push(line);
    });
  });
  afterEach(() => spy.mockRestore());

  test('every line the handler logs carries the request id of its Lambda context, and the result passes through', async () => {
    const handler = withRequestId(async (event: { n: number }) => {
      log.info('working', { n: event.n });
      return event.n * 2;
    });
    const context = {
      awsRequestId: 'req-42',
      functionName: 'f',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:x',
      memoryLimitInMB: '128',
    };

    await expect(handler({ n: 21 }, context)).resolves.toBe(42);

    expect(JSON.parse(lines[0])).toMatchObject({ level: 'INFO', message: 'working', n: 21, requestId: 'req-42' });
  });

  test('errors pass through unchanged', async () => {
    const handler = withRequestId(async () => {
      throw new Error('boom');
    });
    await expect(handler(undefined, undefined)).rejects.toThrow('boom');
  });
});
