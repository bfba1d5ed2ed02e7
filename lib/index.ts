export * from './database-role';
export type { RedeployOnRotationOptions } from './deployment-controllers';
export * from './dsql-private-link';
export * from './dsql-url-secret';
export * from './dsql-url-secret-props';
export type { FunctionBindingOptions } from './function-consumers';
export * from './token-signer';
export type { StandaloneTaskOptions } from './standalone-tasks';
export * from './url-parameters';
