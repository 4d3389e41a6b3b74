// '@roost/auth/jwt': JWT verification, apart from the package's index because jose, which it
// verifies with, costs a node 1.9 MiB of RSS once loaded; a node without ROOST_JWT_* never loads it.
export { JwtProvider, type JwtOptions } from './jwt-provider.ts';
export { parseJwksFile, parseJwtKeyFile, JWT_ALGORITHMS, type JwtAlgorithm, type JwtKey } from './jwt-key.ts';
