import { redact } from '../../core/redact';
import { fit, shortDeploymentId, shortId, table } from '../../cli/format';
import { TOKEN } from './fixtures';

describe('redact', () => {
  test('hides a presigned token, raw or percent-encoded, and a URL password', () => {
    const url = `postgres://admin:${encodeURIComponent(TOKEN)}@abc.dsql.eu-west-1.on.aws:5432/postgres?sslmode=require`;
    for (const text of [TOKEN, url, `error: ${TOKEN} was refused`]) {
      const out = redact(text);
      expect(out).not.toContain('X-Amz-Signature');
      expect(out).not.toContain('IQoJb3JpZ2luX2VjEXAMPLE');
      expect(out).not.toContain('deadbeef');
      expect(out).not.toContain(encodeURIComponent(TOKEN));
    }
    expect(redact(url)).toMatch(/^postgres:\/\/admin:\*\*\*@abc\.dsql/);
  });

  test('keeps only the last four characters of access key ids, and hides secret access keys', () => {
    expect(redact('The key AKIAQX4CLITESTKEY7Z2P is not valid')).toBe('The key …7Z2P is not valid');
    expect(redact('session ASIAQX4EXAMPLEKEY123')).toBe('session …Y123');
    expect(redact('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe('aws_secret_access_key = ***');
  });

  test('leaves ordinary text alone', () => {
    const text = 'version 1a2b3c4d: AWSPENDING → AWSCURRENT; service main/web COMPLETED 2/2';
    expect(redact(text)).toBe(text);
  });
});

test('short ids', () => {
  expect(shortId('1a2b3c4d-0000-4000-8000-000000000000')).toBe('1a2b3c4d');
  expect(shortId(undefined)).toBe('-');
  expect(shortDeploymentId('ecs-svc/1102845487063586807')).toBe('ecs-svc/11028454870…');
  expect(shortDeploymentId('ecs-svc/123')).toBe('ecs-svc/123');
});

test('table pads every column but the last', () => {
  expect(
    table([
      ['A', 'BB', 'C'],
      ['aaa', 'b', 'c'],
    ]),
  ).toEqual(['A    BB  C', 'aaa  b   c']);
});

test('fit cuts lines to the terminal width', () => {
  expect(fit('x'.repeat(30), 20)).toBe(`${'x'.repeat(19)}…`);
  expect(fit('short', 20)).toBe('short');
  expect(fit('x'.repeat(30), undefined)).toBe('x'.repeat(30));
});
