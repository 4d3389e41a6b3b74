export { PasswordFileProvider, parsePasswordFile, type ParsedPasswordFile, type LineProblem } from './password-file.ts';
export { parsePasswordHash, verifyPassword, type PasswordHash } from './password-hash.ts';
export { AclFileSource } from './acl-file.ts';
export { parseAclFile, type AclAccess, type AclRule, type AclFileRules } from './acl-parse.ts';
export { compileAclRules, covers } from './acl-rules.ts';
