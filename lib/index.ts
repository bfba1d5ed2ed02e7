export * from './database-role';
export * from './dsql-private-link';
export * from './dsql-url-secret';
export * from './dsql-url-secret-props';
export * from './token-signer';
export type { StandaloneTaskOptions } from './standalone-tasks';
