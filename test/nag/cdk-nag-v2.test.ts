import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TokenSigner } from '../../lib';
import { expectedFindings } from './expected-findings';
import { cdkNag2Findings } from './findings';
import { constructApp, exampleApp, NagStack } from './nag-apps';
import { suppressForCdkNag2 } from './readme-suppressions-v2';

/** The app with cdk-nag 2's AwsSolutions pack; suppressed findings are logged, so the test sees what each suppression covers. */
function checked(nag: NagStack): NagStack {
  Aspects.of(nag.app).add(new AwsSolutionsChecks({ logIgnores: true }));
  return nag;
}

const stacks = [
  ['the default access-key signer', () => constructApp(TokenSigner.managedAccessKey()), { accessKey: true }],
  ['TokenSigner.rotationFunctionRole()', () => constructApp(TokenSigner.rotationFunctionRole()), { accessKey: false }],
  ['functions in a VPC', () => constructApp(TokenSigner.managedAccessKey(), new App(), true), { accessKey: true, inVpc: true }],
] as const;

describe('cdk-nag 2 (Aspects, NagSuppressions)', () => {
  test.each(stacks)(
    'with %s, AwsSolutions finds exactly the wildcards the README lists (and SMG4 with access keys)',
    (_n, make, options) => {
      const findings = cdkNag2Findings(checked(make()));
      expect(findings.open).toEqual(expectedFindings({ base: 'Nag-DatabaseUrl-D31D8F55', ...options }));
      expect(findings.open.filter((f) => /AwsSolutions-(IAM4|L1)\b/.test(f))).toEqual([]);
    },
  );

  test.each(stacks)("with %s, the README's suppressions cover every finding and leave nothing", (_n, make, options) => {
    const nag = checked(make());
    suppressForCdkNag2(nag.dbUrl);
    const findings = cdkNag2Findings(nag);
    expect(findings.open).toEqual([]);
    expect(findings.suppressed).toEqual(expectedFindings({ base: 'Nag-DatabaseUrl-D31D8F55', ...options }));
  });

  test('on the example app, its own suppressions cover exactly the same findings and leave nothing', () => {
    const findings = cdkNag2Findings(checked(exampleApp()));
    expect(findings.open).toEqual([]);
    expect(findings.suppressed).toEqual(expectedFindings({ base: 'Example-DatabaseUrl-55DF8D3E', accessKey: true }));
  });
});
