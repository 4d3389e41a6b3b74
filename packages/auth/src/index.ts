export { PasswordFileProvider, parsePasswordFile, type ParsedPasswordFile, type LineProblem } from './password-file.ts';
export { hashPassword, parsePasswordHash, verifyPassword, PBKDF2_ITERATIONS, type PasswordHash } from './password-hash.ts';
export { deleteUserLine, invalidUserName, readPasswordFile, setUserLine, writePasswordFile } from './password-file-edit.ts';
export { AclFileSource } from './acl-file.ts';
export { parseAclFile, type AclAccess, type AclRule, type AclFileRules } from './acl-parse.ts';
export { compileAclRules, covers } from './acl-rules.ts';
