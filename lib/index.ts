export * from './database-role';
export * from './dsql-url-secret';
export * from './dsql-url-secret-props';
export * from './token-signer';
