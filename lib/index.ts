export * from './database-role';
export * from './dsql-url-secret';
export * from './token-signer';
