import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DsqlUrlSecret, FunctionBindingOptions, TokenSigner } from '../../lib';
import { MIN_URL_LENGTH_ACCESS_KEY, MIN_URL_LENGTH_SESSION } from '../../lib/function-binding-checks';
import { ENV, appFunction, given } from './function-consumer-fixture';

describe('refusals', () => {
  const refuse = (bind: (stack: Stack, db: DsqlUrlSecret) => void, message: RegExp) => {
    const { stack, db } = given();
    expect(() => bind(stack, db)).toThrow(message);
  };

  test('an imported function: its own stack owns its environment', () => {
    refuse(
      (stack, db) => db.updateFunctionOnRotation(lambda.Function.fromFunctionName(stack, 'Imported', 'legacy')),
      /function Stack\/Imported is not a lambda.Function defined in this app .*would write its own value back.*Bind the function where it is defined/,
    );
  });

  test('a Lambda@Edge function, or one used as an edge function by a distribution', () => {
    refuse((stack, db) => {
      const edge = new cloudfront.experimental.EdgeFunction(stack, 'Edge', {
        runtime: lambda.Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => 1;'),
      });
      db.updateFunctionOnRotation(edge);
    }, /function Stack\/Edge is a Lambda@Edge function: edge functions cannot have environment variables\. Read the URL from the secret/);

    const { app, stack, db } = given({ rolloutAllowance: Duration.minutes(30) });
    const fn = appFunction(stack, 'Viewer');
    db.updateFunctionOnRotation(fn);
    new cloudfront.Distribution(stack, 'Cdn', {
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(new s3.Bucket(stack, 'Site')),
        edgeLambdas: [{ functionVersion: fn.currentVersion, eventType: cloudfront.LambdaEdgeEventType.VIEWER_REQUEST }],
      },
    });
    expect(() => app.synth()).toThrow(/function Stack\/Viewer is used as a Lambda@Edge function .*cannot have environment variables/);
  });

  test('a version or an alias instead of its function', () => {
    refuse(
      (stack, db) => db.updateFunctionOnRotation(appFunction(stack, 'Api').addAlias('live')),
      /is a version or an alias: bind its function, with \{ alias \}/,
    );
  });

  test('a function in another top-level stack, or another region, naming both stacks and the fix', () => {
    const { app, db } = given();
    const other = new Stack(app, 'Other', { env: ENV });
    expect(() => db.updateFunctionOnRotation(appFunction(other, 'Api'))).toThrow(
      /function Other\/Api is in stack Other, but Stack\/Db is in stack Stack\. .*dependency cycle.*Create the DsqlUrlSecret in Other/,
    );
    const elsewhere = new Stack(app, 'Elsewhere', { env: { ...ENV, region: 'us-east-2' } });
    expect(() => db.updateFunctionOnRotation(appFunction(elsewhere, 'Api'))).toThrow(
      /is in stack Elsewhere \(region us-east-2\), but Stack\/Db is in stack Stack \(region eu-west-1\).*its own region and account only/,
    );
  });

  test("the construct's own functions", () => {
    refuse((_, db) => db.updateFunctionOnRotation(db.watchdogFunction), /belongs to Stack\/Db itself/);
  });

  test.each([
    ['AWS_REGION', /variable 'AWS_REGION' for function Stack\/Api is reserved by Lambda/],
    ['LAMBDA_TASK_ROOT', /is reserved by Lambda/],
    ['AWS_ANYTHING', /is reserved by Lambda/],
    ['TZ', /is reserved by Lambda/],
    ['_HANDLER', /variable '_HANDLER' .*is reserved by Lambda/],
    ['1URL', /variable '1URL' for function Stack\/Api is not a valid name; use a name of letters, digits and underscores/],
    ['D', /is not a valid name/],
    ['DATABASE-URL', /is not a valid name/],
  ])('variable %s', (variable, message) => {
    refuse((stack, db) => db.updateFunctionOnRotation(appFunction(stack, 'Api'), { variable }), message);
  });

  test('an unknown field, naming the fields', () => {
    refuse(
      (stack, db) => db.updateFunctionOnRotation(appFunction(stack, 'Api'), { field: 'token' }),
      /unknown field 'token' for Stack\/Api; use one of url, host, port, username, password, dbname, sslmode, issuedAt, expiresAt/,
    );
  });

  test('binding a function twice', () => {
    refuse((stack, db) => {
      const fn = appFunction(stack, 'Api');
      db.updateFunctionOnRotation(fn);
      db.updateFunctionOnRotation(fn, { variable: 'OTHER_URL' });
    }, /function Stack\/Api is already bound to Stack\/Db; bind each function once/);
  });

  test('an alias of another function', () => {
    refuse((stack, db) => {
      const other = appFunction(stack, 'Other');
      db.updateFunctionOnRotation(appFunction(stack, 'Api'), { alias: other.addAlias('live') } as FunctionBindingOptions);
    }, /alias Stack\/Other\/Aliaslive is an alias of Stack\/Other, not of Stack\/Api; pass an alias of the bound function/);
  });

  test('a timeout longer than rolloutAllowance, naming both and the fix', () => {
    const { stack, db } = given({ rolloutAllowance: Duration.minutes(10) });
    expect(() => db.updateFunctionOnRotation(appFunction(stack, 'Api', { timeout: Duration.minutes(15) }))).toThrow(
      new RegExp(
        "function Stack/Api has a timeout of 15 minutes, longer than rolloutAllowance \\(10 minutes\\).*Raise the DsqlUrlSecret's " +
          "rolloutAllowance.*or lower the function's timeout",
      ),
    );
    // At the allowance itself it fits.
    expect(() => db.updateFunctionOnRotation(appFunction(stack, 'Fits', { timeout: Duration.minutes(10) }))).not.toThrow();
  });

  test('a variable the function already sets, or one set again after binding', () => {
    refuse(
      (stack, db) => db.updateFunctionOnRotation(appFunction(stack, 'Api', { environment: { DATABASE_URL: 'postgres://old' } })),
      /function Stack\/Api already sets DATABASE_URL; remove it from the function's environment/,
    );
    const { app, stack, db } = given();
    const fn = appFunction(stack, 'Api');
    db.updateFunctionOnRotation(fn);
    fn.addEnvironment('DATABASE_URL', 'postgres://hard-coded');
    expect(() => app.synth()).toThrow(/DATABASE_URL of function Stack\/Api was set again after it was bound to Stack\/Db/);
  });
});

describe("Lambda's 4 KB for all variables", () => {
  const withOthers = (signer: TokenSigner, otherBytes: number) => {
    const { app, stack, db } = given({ signer });
    // One other variable: its key (5 bytes) and value; DATABASE_URL's key is 12 bytes.
    const fn = appFunction(stack, 'Api', { environment: { OTHER: 'x'.repeat(otherBytes - 5) } });
    db.updateFunctionOnRotation(fn);
    return () => app.synth();
  };

  test('session-signed URLs (role signer): refused once the other variables leave less than the URL needs', () => {
    const room = 4096 - 12 - MIN_URL_LENGTH_SESSION;
    expect(withOthers(TokenSigner.rotationFunctionRole(), room)).not.toThrow();
    expect(withOthers(TokenSigner.rotationFunctionRole(), room + 1)).toThrow(
      new RegExp(
        `environment variables of function Stack/Api would take at least 4097 bytes with the URL in DATABASE_URL \\(at least ` +
          `${MIN_URL_LENGTH_SESSION} characters signed with session credentials\\).*4096 bytes.*TokenSigner.managedAccessKey`,
      ),
    );
  });

  test('access-key URLs are shorter: the same variables fit', () => {
    const room = 4096 - 12 - MIN_URL_LENGTH_ACCESS_KEY;
    expect(withOthers(TokenSigner.managedAccessKey(), 4096 - 12 - MIN_URL_LENGTH_SESSION + 1)).not.toThrow();
    expect(withOthers(TokenSigner.managedAccessKey(), room + 1)).toThrow(/at least 4097 bytes .*signed with an access key/);
  });

  test('values CloudFormation resolves count nothing (the rotation function checks the real size)', () => {
    const { app, stack, db } = given({ signer: TokenSigner.rotationFunctionRole() });
    const bucket = new s3.Bucket(stack, 'Bucket');
    db.updateFunctionOnRotation(appFunction(stack, 'Api', { environment: { BUCKET: bucket.bucketName, BIG: 'x'.repeat(2000) } }));
    expect(() => app.synth()).not.toThrow();
  });
});
