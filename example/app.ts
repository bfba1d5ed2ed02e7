import { App } from 'aws-cdk-lib';
import { ExampleStack } from './example-stack';

const app = new App();
// Region is fixed so `cdk synth` works offline with no AWS account.
new ExampleStack(app, 'DsqlUrlSecretExample', { env: { region: 'us-east-1' } });
app.synth();
