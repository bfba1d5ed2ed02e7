import { keySuffix, redact } from '../../core/redact';

describe('redact', () => {
  const token =
    'abc.dsql.us-east-1.on.aws/?Action=DbConnectAdmin&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAABCDEFGHIJKLMNOP%2F20300101' +
    '&X-Amz-Signature=deadbeef&X-Amz-Security-Token=FwoGZXIvYXdzE';

  test('hides a token, a URL password, a secret access key, and all but 4 characters of an access key id', () => {
    const secretKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const text =
      `token ${token} url postgres://admin:${encodeURIComponent(token)}@h:5432/postgres ` +
      `key AKIAABCDEFGHIJKLMNOP session ASIAABCDEFGHIJKLMNOQ secretAccessKey: "${secretKey}" aws_secret_access_key=${secretKey}`;
    const out = redact(text);

    expect(out).not.toContain('X-Amz');
    expect(out).not.toContain('deadbeef');
    expect(out).not.toContain(secretKey);
    expect(out).not.toMatch(/AKIA|ASIA/);
    expect(out).toContain('postgres://admin:***@h:5432');
    expect(out).toContain('…MNOP');
    expect(out).toContain('…MNOQ');
  });

  test('leaves ordinary text alone', () => {
    expect(redact('rotated version 1234 of app/db in 3 s')).toBe('rotated version 1234 of app/db in 3 s');
  });

  test('keySuffix keeps the last four characters', () => {
    expect(keySuffix('AKIAABCDEFGHIJKLMNOP')).toBe('…MNOP');
  });
});
