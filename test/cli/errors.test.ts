import { CliError, ExitCode, explainAwsError, UsageError } from '../../cli/errors';
import { isRotationInProgressError } from '../../core/rotation-errors';
import { awsError } from './fixtures';

const call = { api: 'DescribeServices', action: 'ecs:DescribeServices', resource: 'the services in cluster main (2 of them)' };

describe('explainAwsError', () => {
  test('access denied names the API call, the IAM action and the resource', () => {
    const err = explainAwsError(
      awsError('AccessDeniedException', 'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:DescribeServices', 403),
      call,
    );
    expect(err).toBeInstanceOf(CliError);
    expect(err.exitCode).toBe(ExitCode.FAILED);
    expect(err.message).toBe(
      'Permission denied: DescribeServices was refused (AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not ' +
        'authorized to perform: ecs:DescribeServices). Allow ecs:DescribeServices on the services in cluster main (2 of them) ' +
        'for the AWS identity this command runs as.',
    );
  });

  test('access denied by KMS also asks for kms:Decrypt; extra advice is appended', () => {
    const err = explainAwsError(awsError('AccessDeniedException', 'Access to KMS is not allowed'), {
      api: 'GetSecretValue',
      action: 'secretsmanager:GetSecretValue',
      resource: 'the secret s',
      alsoNeeds: 'And more.',
    });
    expect(err.message).toContain('Allow secretsmanager:GetSecretValue on the secret s');
    expect(err.message).toContain('And more.');
    expect(err.message).toContain('kms:Decrypt');
  });

  test('bad, missing or expired credentials say how to fix them', () => {
    expect(
      explainAwsError(awsError('ExpiredTokenException', 'The security token included in the request is expired'), call).message,
    ).toMatch(/^AWS rejected the credentials on DescribeServices \(ExpiredTokenException: .*\)\. Refresh or configure credentials/);
    expect(
      explainAwsError(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), call)
        .message,
    ).toMatch(/^No AWS credentials found for DescribeServices\. Configure them/);
  });

  test('a missing region is a usage error', () => {
    const err = explainAwsError(new Error('Region is missing'), call);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain('pass --region, set AWS_REGION');
  });

  test('an unreachable endpoint names it', () => {
    const err = explainAwsError(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      call,
      'http://127.0.0.1:1',
    );
    expect(err.message).toBe(
      'Could not reach the endpoint http://127.0.0.1:1 for DescribeServices (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1). ' +
        'Check the network, --region and --endpoint-url.',
    );
  });

  test('throttling and anything else', () => {
    expect(explainAwsError(awsError('ThrottlingException'), call).message).toContain('AWS throttled DescribeServices');
    expect(explainAwsError(awsError('InvalidParameterException', 'bad'), call).message).toBe(
      'DescribeServices failed: InvalidParameterException: bad',
    );
  });

  test('a CliError passes through', () => {
    const e = new CliError('mine');
    expect(explainAwsError(e, call)).toBe(e);
  });
});

test('isRotationInProgressError knows the AWS and moto messages', () => {
  expect(
    isRotationInProgressError(
      awsError('InvalidRequestException', "A previous rotation isn't complete. That rotation will be reattempted."),
    ),
  ).toBe(true);
  expect(isRotationInProgressError(awsError('InvalidRequestException', 'Previous rotation request is still in progress.'))).toBe(true);
  expect(
    isRotationInProgressError(
      awsError('InvalidRequestException', "You tried to perform the operation on a secret that's currently marked deleted."),
    ),
  ).toBe(false);
  expect(isRotationInProgressError(awsError('ResourceNotFoundException', 'in progress'))).toBe(false);
});
