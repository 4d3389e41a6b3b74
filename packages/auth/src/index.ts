export { PasswordFileProvider, parsePasswordFile, type ParsedPasswordFile, type LineProblem } from './password-file.ts';
export { hashPassword, parsePasswordHash, verifyPassword, INLINE_PBKDF2_MAX_ITERATIONS, PBKDF2_ITERATIONS, type PasswordHash } from './password-hash.ts';
export { deleteUserLine, invalidUserName, readPasswordFile, setUserLine, writePasswordFile } from './password-file-edit.ts';
export { AclFileSource } from './acl-file.ts';
export { parseAclFile, type AclAccess, type AclRule, type AclFileRules } from './acl-parse.ts';
export { compileAclRules, covers } from './acl-rules.ts';
export { compileRuleList } from './acl-rules.ts';
export { parseAclClaim } from './acl-claim.ts';
// JWT verification is '@roost/auth/jwt' (src/jwt.ts), imported only where JWT is configured.
export { HttpAuthProvider, type HttpAuthOptions } from './http-provider.ts';
export { CertificateIdentityProvider, type CertificateIdentity } from './certificate-identity.ts';
export { RedisAuthStore, parseAclLines, parseAuthChange, type AuthChange } from './redis-auth-store.ts';
export { RedisUserProvider } from './redis-users.ts';
export { RedisAclSource } from './redis-acl.ts';
export { RuleChain, type PartialRuleSource } from './rule-chain.ts';
export { ScramProvider, type ScramProviderOptions, type UserLookup } from './scram-provider.ts';
export { ScramExchange, randomNonce, type ScramOutcome } from './scram-exchange.ts';
export {
  formatScramEntry,
  parseScramEntry,
  preparePassword,
  scramCredentials,
  verifyScramPassword,
  SCRAM_ITERATIONS,
  ScramPasswordError,
  type ScramCredentials,
} from './scram-credentials.ts';
export {
  parseClientFinal,
  parseClientFirst,
  isScramMechanism,
  SCRAM_MECHANISMS,
  ScramMessageError,
  type ClientFinal,
  type ClientFirst,
  type ScramMechanism,
} from './scram-messages.ts';
