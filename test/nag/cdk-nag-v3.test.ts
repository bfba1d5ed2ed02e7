import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag-v3';
import { TokenSigner } from '../../lib';
import { expectedFindings } from './expected-findings';
import { appWithOutdir, cdkNag3Findings } from './findings';
import { constructApp, exampleApp, NagStack } from './nag-apps';
import { acknowledgeForCdkNag3 } from './readme-suppressions-v3';

/** The app with cdk-nag 3's AwsSolutions pack, a policy-validation plugin (cdk-nag 3.0.2, installed as cdk-nag-v3). */
function checked(nag: NagStack): NagStack {
  Validations.of(nag.app).addPlugins(new AwsSolutionsChecks(nag.app));
  return nag;
}

const stacks = [
  ['the default access-key signer', () => constructApp(TokenSigner.managedAccessKey(), appWithOutdir()), { accessKey: true }],
  ['TokenSigner.rotationFunctionRole()', () => constructApp(TokenSigner.rotationFunctionRole(), appWithOutdir()), { accessKey: false }],
  ['functions in a VPC', () => constructApp(TokenSigner.managedAccessKey(), appWithOutdir(), true), { accessKey: true, inVpc: true }],
] as const;

describe('cdk-nag 3 (Validations plugins and acknowledge)', () => {
  test.each(stacks)('with %s, AwsSolutions finds exactly what cdk-nag 2 finds', (_n, make, options) => {
    expect(cdkNag3Findings(checked(make()))).toEqual(expectedFindings({ base: 'Nag-DatabaseUrl-D31D8F55', ...options }));
  });

  test.each(stacks)("with %s, the README's acknowledgements leave nothing, and synth succeeds", (_n, make) => {
    const nag = checked(make());
    acknowledgeForCdkNag3(nag.dbUrl, nag.ecsCluster);
    expect(cdkNag3Findings(nag)).toEqual([]);
    expect(() => nag.app.synth({ force: true })).not.toThrow();
  });

  test("on the example app, its cdk-nag 2 suppressions do not count; the README's acknowledgements leave nothing", () => {
    expect(cdkNag3Findings(checked(exampleApp(appWithOutdir())))).toEqual(
      expectedFindings({ base: 'Example-DatabaseUrl-55DF8D3E', accessKey: true }),
    );
    const nag = checked(exampleApp(appWithOutdir()));
    acknowledgeForCdkNag3(nag.dbUrl, nag.ecsCluster);
    expect(cdkNag3Findings(nag)).toEqual([]);
  });
});
