// Package acl is Apache RocketMQ 4.9's plain ACL for mqbroker: accounts
// with an accessKey and a secretKey sign every request, and a policy file
// in the shape of Apache's plain_acl.yml says what each account may publish
// and subscribe to.
//
// # File
//
//	globalWhiteRemoteAddresses:      # peers allowed everything, unsigned
//	  - 10.10.103.*
//	accounts:
//	  - accessKey: order_srv          # at least 7 characters, as Apache requires
//	    secretKey: s3cret-order       # at least 7 characters
//	    whiteRemoteAddress:           # optional: from these peers, allowed everything unsigned
//	    admin: false                  # admin request codes (create/delete topic or group, broker config)
//	    defaultTopicPerm: DENY        # for topics not listed below (default DENY)
//	    defaultGroupPerm: SUB         # for groups not listed below (default DENY)
//	    topicPerms:
//	      - order_reback=PUB
//	    groupPerms:
//	      - inventory_reback=SUB
//
// A permission is PUB, SUB, PUB|SUB (or SUB|PUB) or DENY; anything else
// reads as DENY, as in Apache. Addresses are IPv4 patterns: "*" (any), an
// address, octets as "*" or "a-b" ranges (192.168.1.1-100, 192.168.*.*),
// "192.168.0.{1,2,3}", or a comma-separated list of addresses; IPv6
// addresses match exactly.
//
// With Options.Getenv (mqbroker passes its environment), every ${NAME}
// in the file — comments included — is replaced by that variable before
// parsing, and an unset one is an error: the committed file can then name
// its secret keys without holding them (deploy/plain_acl.yml).
//
// # Signature
//
// The client (Go primitive.Credentials, Java AclClientRPCHook) adds the ext
// fields AccessKey and Signature: Signature = base64(HMAC-SHA1(secretKey,
// the values of all ext fields but Signature, in the byte order of their
// keys, concatenated, followed by the body)). The broker recomputes it
// over what it received (ignoring Signature and _UNIQUE_KEY_QUERY, as
// Apache does).
//
// # Decision (Apache PlainPermissionManager.validate)
//
//  1. A peer matching globalWhiteRemoteAddresses is allowed.
//  2. Otherwise the request must carry an AccessKey of a known account.
//  3. A peer matching that account's whiteRemoteAddress is allowed.
//  4. The signature must verify with the account's secretKey.
//  5. Admin request codes need admin: true.
//  6. Every resource the request names (see Resources) needs its permission:
//     listed topics and groups their own, others the default. Retry topics
//     (%RETRY%group) are the group's resource.
//  7. What only the broker's state names is decided by Policy.Permits once
//     the broker looked it up: PUB on the topic of the half message an
//     END_TRANSACTION decides, SUB on the topic of the record a
//     VIEW_MESSAGE_BY_ID reads, and whether a registered producer may be
//     sent a check-back (see Resources for how this deviates from Apache).
//
// A refusal is an *Error naming what was refused; the broker answers it
// with NO_PERMISSION (16).
package acl
