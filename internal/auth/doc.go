// Package auth is shopsaga's one implementation of authentication and authorization, shared by
// order_srv, inventory_srv and the tools that call them (demo, loadgen, tests).
//
// A request carries "Authorization: Bearer <JWT>". The token is checked by a Verifier built
// from Config: either an HS256 shared secret (AUTH_JWT_SECRET) or the JSON Web Key Set of an
// OIDC provider (AUTH_JWKS_URL, RS256/ES256), with the issuer (AUTH_ISSUER) and audience
// (AUTH_AUDIENCE) checked when set. "exp" is required; "alg: none" and any algorithm outside the
// configured family (HS/RS confusion) are refused by the jwt library's method whitelist.
//
// Claims: "sub" is the user id in decimal (service accounts may have another subject), "scope"
// the space-separated scopes: ScopeAdmin (goods, any order, timelines) and ScopeService (the
// internal calls between the services).
//
// Middleware (gin) turns a token into a Principal in the request's context, answering 401
// {"error":{"code":"unauthenticated",...}} for a missing or bad token; Require answers 403
// {"error":{"code":"forbidden",...}} for a missing scope. Ownership (a user's own orders and
// carts) is the services' business: they ask Principal.MayActFor.
//
// With AUTH_DISABLED=1 and no key, every request is the Principal Disabled (all scopes, any
// user): today's open behaviour, for local experiments only. Services log a warning at start and
// show it on /readyz.
//
// Mint and NewServiceTokenSource make tokens from the shared secret: for tests, the demo,
// loadgen, and order_srv's calls to inventory_srv (short-lived, cached).
package auth
