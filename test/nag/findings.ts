import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { NagStack } from './nag-apps';

/** Findings as `<construct path below the stack> <finding id>`, sorted: one line per resource and finding. */
export interface Findings {
  /** Errors and warnings left. */
  readonly open: string[];
  /** Findings a suppression covers (cdk-nag 2 with logIgnores). */
  readonly suppressed: string[];
}

const sorted = (lines: string[]) => [...new Set(lines)].sort();

/**
 * cdk-nag 2 reports findings as annotations, `AwsSolutions-IAM5[Resource::*]: …`, and with logIgnores the suppressed ones as
 * `CdkNagSuppression[Resource::*]: AwsSolutions-IAM5 was triggered but suppressed.`
 */
export function cdkNag2Findings(nag: NagStack): Findings {
  const messages = nag.app.synth().getStackArtifact(nag.stack.artifactId).messages;
  const where = (id: string) => id.replace(new RegExp(`^/${nag.stack.stackName}/`), '');
  const open: string[] = [];
  const suppressed: string[] = [];
  for (const m of messages) {
    const data = String(m.entry.data);
    const finding = /^(AwsSolutions-\w+(?:\[[^\]]*\])?): /.exec(data);
    if (finding && (m.level === 'error' || m.level === 'warning')) open.push(`${where(m.id)} ${finding[1]}`);
    const ignored = /^CdkNagSuppression(\[[^\]]*\])?: (AwsSolutions-\w+) was triggered but suppressed/.exec(data);
    if (ignored) suppressed.push(`${where(m.id)} ${ignored[2]}${ignored[1] ?? ''}`);
  }
  return { open: sorted(open), suppressed: sorted(suppressed) };
}

/** A fresh app writing its assembly to a directory of its own, where cdk-nag 3's report lands. */
export function appWithOutdir(): App {
  return new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'nag-v3-')) });
}

interface ValidationReport {
  readonly pluginReports: {
    readonly violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

/**
 * cdk-nag 3 is a policy-validation plugin: synth fails when it reports a violation, after writing validation-report.json
 * into the assembly (and printing it, silenced here). No report, or one without violations, is a clean synth.
 */
export function cdkNag3Findings(nag: NagStack): string[] {
  const quiet = [jest.spyOn(console, 'log'), jest.spyOn(console, 'error'), jest.spyOn(console, 'warn')].map((s) =>
    s.mockImplementation(() => {}),
  );
  let failure: unknown;
  try {
    nag.app.synth();
  } catch (e) {
    failure = e;
  } finally {
    quiet.forEach((s) => s.mockRestore());
  }
  const file = path.join(nag.app.outdir, 'validation-report.json');
  const report: ValidationReport = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { pluginReports: [] };
  const lines = report.pluginReports.flatMap((p) =>
    p.violations.flatMap((v) =>
      v.violatingConstructs.map((c) => `${c.constructPath.replace(`${nag.stack.stackName}/`, '')} ${v.ruleName}`),
    ),
  );
  // A failed synth must be the validation's, never an error of its own.
  if (failure !== undefined && lines.length === 0) throw failure;
  return sorted(lines);
}
