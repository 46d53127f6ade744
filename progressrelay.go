// Package progressrelay is the package xcaddy builds into Caddy: importing it registers the
// progress_relay HTTP handler, which lives in caddymodule/.
//
//	xcaddy build --with github.com/progress-relay/progress-relay
package progressrelay

import _ "github.com/progress-relay/progress-relay/caddymodule" // registers the module
