/*!
 * progress-relay.js: the browser client of Progress Relay.
 *
 *   const relay = ProgressRelay.connect({
 *     session: 'imp-123',             // required
 *     token: '...',                   // subscriber token, when the relay asks for one
 *     transports: ['socketio', 'websocket', 'sse', 'poll'],   // tried in this order
 *     onEvent(evt) {},                // {seq, type, session, data, transport, receivedAt}
 *     onStatus(status) {},            // active transport, and why the others failed
 *   });
 *   relay.close();
 *
 * It tries the transports in order and falls back when one fails or stays silent while the relay
 * has newer events; it reconnects with backoff and resumes after the last seq, so that no event is
 * shown twice or missed; it stops after a terminal event (complete or error).
 *
 * As a classic <script> it defines the global ProgressRelay. The relay serves the same code as an
 * ES module next to it (progress-relay.mjs: `import ProgressRelay from '/progress-relay.mjs'`),
 * which adds the exports at the end; a module cannot also be a classic script, so one URL per form.
 * When the relay serves this file, its endpoint paths are filled in below, so `connect({session})`
 * needs no other option.
 */
(function (root, factory) {
  'use strict';
  var api = factory(root);
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
  } else if (root) {
    root.ProgressRelay = api;
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function (global) {
  'use strict';

  var VERSION = '1.0.0';
  var TRANSPORTS = ['socketio', 'websocket', 'sse', 'poll'];

  // The relay replaces null with its configuration when it serves this file.
  var served = /*@relay-config*/null;

  var defaults = {
    base: scriptOrigin(),
    paths: {
      subscribe: '/api/import/progress/{session}',
      websocket: '/',
      socketio: '/socket.io/'
    },
    transports: TRANSPORTS.slice(),
    offered: TRANSPORTS.slice(), // what the relay serves; the others are skipped at once
    terminal: ['complete', 'error'],
    connectTimeout: 8000, // ms for a transport to connect and register
    silenceTimeout: 20000, // ms without events before checking the transport is not stuck
    pollWait: 25, // s the relay may hold a long-poll
    backoff: { initial: 500, max: 15000, factor: 2 },
    maxDrops: 3 // drops in a row without an event before giving up on a transport
  };
  if (served && served.paths) {
    defaults.paths = {
      subscribe: orNull(served.paths.subscribe),
      websocket: orNull(served.paths.websocket),
      socketio: orNull(served.paths.socketio)
    };
  }
  if (served && Array.isArray(served.transports)) {
    defaults.offered = served.transports.slice();
  }

  function orNull(v) {
    return v ? String(v) : null;
  }

  // A library loaded from another origin talks to that origin by default.
  function scriptOrigin() {
    var doc = global.document;
    var script = doc && doc.currentScript;
    if (script && script.src) {
      try {
        return new URL(script.src).origin;
      } catch (e) {
        return '';
      }
    }
    return '';
  }

  function connect(options) {
    return new Connection(options || {}).handle();
  }

  // ---- options ----

  function resolveOptions(opts) {
    if (!opts.session) {
      throw new TypeError('ProgressRelay.connect: options.session is required');
    }
    var paths = {};
    var given = opts.paths || {};
    ['subscribe', 'websocket', 'socketio'].forEach(function (k) {
      paths[k] = k in given ? orNull(given[k]) : defaults.paths[k];
    });
    var transports = (opts.transports || defaults.transports).filter(function (t) {
      return TRANSPORTS.indexOf(t) >= 0;
    });
    if (!transports.length) {
      throw new TypeError('ProgressRelay.connect: transports must name at least one of ' + TRANSPORTS.join(', '));
    }
    var backoff = opts.backoff || {};
    return {
      session: String(opts.session),
      token: opts.token ? String(opts.token) : '',
      after: Math.max(0, Number(opts.after) || 0),
      base: opts.base != null ? String(opts.base) : defaults.base,
      paths: paths,
      transports: transports,
      // Paths given by the caller describe another relay, whose offer the served one says nothing of.
      offered: opts.offered || (opts.paths ? TRANSPORTS.slice() : defaults.offered),
      terminal: opts.terminal || defaults.terminal,
      connectTimeout: opts.connectTimeout || defaults.connectTimeout,
      silenceTimeout: opts.silenceTimeout != null ? opts.silenceTimeout : defaults.silenceTimeout,
      pollWait: opts.pollWait != null ? opts.pollWait : defaults.pollWait,
      socketioTransports: opts.socketioTransports || null,
      maxDrops: opts.maxDrops || defaults.maxDrops,
      backoff: {
        initial: backoff.initial || defaults.backoff.initial,
        max: backoff.max || defaults.backoff.max,
        factor: backoff.factor || defaults.backoff.factor
      },
      onEvent: typeof opts.onEvent === 'function' ? opts.onEvent : function () {},
      onStatus: typeof opts.onStatus === 'function' ? opts.onStatus : function () {}
    };
  }

  function absolute(path, o) {
    var location = global.location;
    return new URL(path, o.base || (location && location.href) || undefined);
  }

  function sessionURL(o) {
    // Session IDs are [A-Za-z0-9._:-]; ':' stays as it is so that the path reads as the relay logs it.
    var id = encodeURIComponent(o.session).replace(/%3A/gi, ':');
    return absolute(o.paths.subscribe.split('{session}').join(id), o);
  }

  function toWebSocketURL(u) {
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u;
  }

  // ---- the connection: fallback, reconnects, dedupe ----

  function Connection(options) {
    this.o = resolveOptions(options);
    this.lastSeq = this.o.after;
    this.received = 0;
    this.duplicates = 0;
    this.gaps = 0;
    this.state = 'connecting';
    this.message = 'starting';
    this.index = 0; // position in o.transports of the transport in use or next to try
    this.current = null; // the attempt in progress
    this.delay = this.o.backoff.initial;
    this.drops = 0;
    this.retryTimer = null;
    this.retryAt = 0;
    this.transports = {};
    for (var i = 0; i < TRANSPORTS.length; i++) {
      var t = TRANSPORTS[i];
      var used = this.o.transports.indexOf(t) >= 0;
      this.transports[t] = { state: used ? 'idle' : 'unused', reason: used ? '' : 'not requested', attempts: 0, events: 0 };
    }
    var self = this;
    this.onOnline = function () {
      if (self.retryTimer) {
        self.retryNow();
      }
    };
    if (global.addEventListener) {
      global.addEventListener('online', this.onOnline);
    }
    // Start after connect() returns, so that callbacks never run before the caller has the handle.
    setTimeout(function () {
      self.begin();
    }, 0);
  }

  Connection.prototype.handle = function () {
    var self = this;
    return {
      session: this.o.session,
      close: function () {
        self.stop('closed', 'closed by the page');
      },
      status: function () {
        return self.snapshot();
      },
      get lastSeq() {
        return self.lastSeq;
      }
    };
  };

  Connection.prototype.done = function () {
    return this.state === 'finished' || this.state === 'failed' || this.state === 'closed';
  };

  // begin tries transports from this.index on, skipping those that cannot start here.
  Connection.prototype.begin = function () {
    this.retryTimer = null;
    this.retryAt = 0;
    while (!this.done()) {
      if (this.index >= this.o.transports.length) {
        this.cycle();
        return;
      }
      var name = this.o.transports[this.index];
      var why = unavailable(name, this.o);
      if (!why) {
        this.open(name);
        return;
      }
      this.mark(name, 'off', why);
      this.index++;
    }
  };

  // cycle starts over from the first transport after a backoff, once every one has failed.
  Connection.prototype.cycle = function () {
    var self = this;
    var usable = this.o.transports.filter(function (t) {
      return self.transports[t].state !== 'off';
    });
    if (!usable.length) {
      this.stop('failed', 'no transport can run here: ' + this.reasons());
      return;
    }
    this.index = 0;
    this.retryLater('every transport failed (' + this.reasons() + ')');
  };

  Connection.prototype.reasons = function () {
    var self = this;
    return this.o.transports
      .map(function (t) {
        return t + ': ' + (self.transports[t].reason || self.transports[t].state);
      })
      .join('; ');
  };

  Connection.prototype.retryLater = function (why) {
    var self = this;
    var wait = Math.round(this.delay * (0.8 + 0.4 * Math.random()));
    this.delay = Math.min(this.delay * this.o.backoff.factor, this.o.backoff.max);
    this.state = 'reconnecting';
    this.retryAt = Date.now() + wait;
    this.message = why + '; retrying in ' + (wait / 1000).toFixed(1) + ' s';
    this.retryTimer = setTimeout(function () {
      self.begin();
    }, wait);
    this.emitStatus();
  };

  Connection.prototype.retryNow = function () {
    clearTimeout(this.retryTimer);
    this.begin();
  };

  Connection.prototype.open = function (name) {
    var self = this;
    var attempt = { name: name, up: false, events: 0, connectTimer: null, silenceTimer: null, closer: null };
    this.current = attempt;
    var info = this.transports[name];
    info.attempts++;
    this.mark(name, 'connecting', '');
    this.state = this.received || this.drops ? 'reconnecting' : 'connecting';
    this.message = 'connecting over ' + name;
    this.emitStatus();
    attempt.connectTimer = setTimeout(function () {
      self.fail(attempt, 'no connection within ' + self.o.connectTimeout / 1000 + ' s');
    }, this.o.connectTimeout);
    var link = {
      up: function () {
        self.up(attempt);
      },
      event: function (env) {
        self.receive(attempt, env);
      },
      fail: function (reason, fatal) {
        self.fail(attempt, reason, fatal);
      },
      finished: function () {
        self.finishedBy(attempt);
      },
      live: function () {
        return self.current === attempt;
      }
    };
    try {
      attempt.closer = OPENERS[name](this.o, this.lastSeq, link);
    } catch (err) {
      this.fail(attempt, 'could not start: ' + err.message);
    }
  };

  Connection.prototype.up = function (attempt) {
    if (this.current !== attempt || attempt.up) {
      return;
    }
    attempt.up = true;
    clearTimeout(attempt.connectTimer);
    this.state = 'connected';
    this.message = 'receiving over ' + attempt.name;
    this.mark(attempt.name, 'connected', '');
    this.watchSilence(attempt);
    this.emitStatus();
  };

  Connection.prototype.receive = function (attempt, env) {
    if (this.current !== attempt || this.done()) {
      return;
    }
    if (!attempt.up) {
      this.up(attempt);
    }
    var seq = Number(env && env.seq);
    if (!(seq > 0) || Math.floor(seq) !== seq) {
      this.message = attempt.name + ' delivered an event without a sequence number; ignored';
      this.emitStatus();
      return;
    }
    attempt.events++;
    this.drops = 0;
    this.delay = this.o.backoff.initial;
    this.watchSilence(attempt);
    if (seq <= this.lastSeq) {
      this.duplicates++; // a replay after a resume: already shown
      return;
    }
    // Seqs are gap-free at the source; a gap means the relay no longer had the events (history
    // trimmed) or collapsed progress for a slow reader. Count it so that a page can say so.
    this.gaps += seq - this.lastSeq - 1;
    this.lastSeq = seq;
    this.received++;
    this.transports[attempt.name].events++;
    var evt = {
      seq: seq,
      type: env.type || 'progress',
      session: env.session || this.o.session,
      data: env.data,
      transport: attempt.name,
      receivedAt: Date.now()
    };
    try {
      this.o.onEvent(evt);
    } catch (err) {
      report(err);
    }
    if (this.o.terminal.indexOf(evt.type) >= 0) {
      this.stop('finished', 'session finished with ' + evt.type + ' (seq ' + seq + ')');
    }
  };

  // finishedBy is the relay saying the session ended (a poll answered done) without a terminal
  // type this client knows.
  Connection.prototype.finishedBy = function (attempt) {
    if (this.current === attempt && !this.done()) {
      this.stop('finished', 'the relay reports the session finished (seq ' + this.lastSeq + ')');
    }
  };

  Connection.prototype.fail = function (attempt, reason, kind) {
    if (this.current !== attempt || this.done()) {
      return;
    }
    this.end(attempt);
    var name = attempt.name;
    if (kind === 'fatal') {
      this.mark(name, 'failed', reason);
      this.stop('failed', name + ': ' + reason);
      return;
    }
    if (attempt.up && kind !== 'stalled') {
      // It worked and dropped: try it again first, unless it keeps dropping without delivering.
      this.drops++;
      if (this.drops < this.o.maxDrops) {
        this.mark(name, 'failed', reason);
        this.retryLater(name + ' dropped (' + reason + ')');
        return;
      }
      reason += ' (' + this.drops + ' drops in a row without an event)';
    }
    this.drops = 0;
    this.mark(name, 'failed', reason);
    this.index++;
    this.message = name + ' failed: ' + reason;
    this.begin();
  };

  Connection.prototype.end = function (attempt) {
    clearTimeout(attempt.connectTimer);
    clearTimeout(attempt.silenceTimer);
    if (this.current === attempt) {
      this.current = null;
    }
    if (attempt.closer) {
      try {
        attempt.closer();
      } catch (err) {
        report(err);
      }
      attempt.closer = null;
    }
  };

  // watchSilence checks, when a transport has delivered nothing for silenceTimeout, whether the
  // relay has newer events: if so the transport is stuck (a buffering proxy, a dead socket that
  // still looks open) and the next one takes over.
  Connection.prototype.watchSilence = function (attempt) {
    var self = this;
    clearTimeout(attempt.silenceTimer);
    if (!this.o.silenceTimeout || attempt.name === 'poll' || !this.o.paths.subscribe) {
      return;
    }
    attempt.silenceTimer = setTimeout(function () {
      var seenAt = self.lastSeq;
      peek(self.o, seenAt).then(
        function (latest) {
          if (self.current !== attempt || self.done()) {
            return;
          }
          if (latest > seenAt && self.lastSeq === seenAt) {
            self.fail(attempt, 'silent for ' + self.o.silenceTimeout / 1000 + ' s while the relay has seq ' + latest, 'stalled');
            return;
          }
          self.watchSilence(attempt);
        },
        function () {
          if (self.current === attempt) {
            self.watchSilence(attempt);
          }
        }
      );
    }, this.o.silenceTimeout);
  };

  Connection.prototype.mark = function (name, state, reason) {
    var info = this.transports[name];
    info.state = state;
    info.reason = reason;
    info.since = Date.now();
  };

  Connection.prototype.stop = function (state, message) {
    if (this.done()) {
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAt = 0;
    var attempt = this.current;
    if (attempt) {
      this.end(attempt);
      if (this.transports[attempt.name].state === 'connected' || this.transports[attempt.name].state === 'connecting') {
        this.mark(attempt.name, 'closed', state === 'finished' ? 'session finished' : message);
      }
    }
    if (global.removeEventListener) {
      global.removeEventListener('online', this.onOnline);
    }
    this.state = state;
    this.message = message;
    this.emitStatus();
  };

  Connection.prototype.snapshot = function () {
    var transports = {};
    for (var t in this.transports) {
      var info = this.transports[t];
      transports[t] = { state: info.state, reason: info.reason, attempts: info.attempts, events: info.events, since: info.since };
    }
    var active = this.current && this.current.up ? this.current.name : null;
    return {
      session: this.o.session,
      state: this.state,
      transport: active,
      message: this.message,
      lastSeq: this.lastSeq,
      received: this.received,
      duplicates: this.duplicates,
      gaps: this.gaps,
      retryAt: this.retryAt || null,
      transports: transports
    };
  };

  Connection.prototype.emitStatus = function () {
    try {
      this.o.onStatus(this.snapshot());
    } catch (err) {
      report(err);
    }
  };

  function report(err) {
    if (global.console && global.console.error) {
      global.console.error('ProgressRelay: a callback threw', err);
    }
  }

  // unavailable says why a transport cannot be tried in this page with these options, or ''.
  function unavailable(name, o) {
    if (o.offered.indexOf(name) < 0) {
      return name + ' is off on this relay';
    }
    switch (name) {
      case 'socketio':
        return o.paths.socketio ? '' : 'Socket.IO is off on this relay';
      case 'websocket':
        if (typeof global.WebSocket !== 'function') {
          return 'this browser has no WebSocket';
        }
        return o.paths.websocket || o.paths.subscribe ? '' : 'WebSocket is off on this relay';
      case 'sse':
        if (typeof global.EventSource !== 'function') {
          return 'this browser has no EventSource';
        }
        return o.paths.subscribe ? '' : 'the subscribe endpoint is off on this relay';
      case 'poll':
        if (typeof global.fetch !== 'function') {
          return 'this browser has no fetch';
        }
        return o.paths.subscribe ? '' : 'the subscribe endpoint is off on this relay';
    }
    return 'unknown transport';
  }

  // ---- transports: each opens, reports through link, and returns its closer ----

  var OPENERS = {
    socketio: openSocketIO,
    websocket: openWebSocket,
    sse: openSSE,
    poll: openPoll
  };

  var ioLoads = {};

  // loadSocketIO gets the io() function: the page's own, else the client the relay serves.
  function loadSocketIO(src) {
    if (typeof global.io === 'function') {
      return Promise.resolve(global.io);
    }
    if (!ioLoads[src]) {
      ioLoads[src] = new Promise(function (resolve, reject) {
        var doc = global.document;
        if (!doc) {
          reject(new Error('no document to load ' + src + ' into'));
          return;
        }
        var script = doc.createElement('script');
        script.src = src;
        script.async = true;
        script.onload = function () {
          if (typeof global.io === 'function') {
            resolve(global.io);
          } else {
            reject(new Error(src + ' loaded but defined no io()'));
          }
        };
        script.onerror = function () {
          script.remove();
          reject(new Error('could not load ' + src + ' (is Socket.IO on at this relay?)'));
        };
        doc.head.appendChild(script);
      });
      // A failed load may succeed later (the relay restarted): forget it.
      ioLoads[src].catch(function () {
        delete ioLoads[src];
      });
    }
    return ioLoads[src];
  }

  function openSocketIO(o, after, link) {
    var prefix = absolute(o.paths.socketio, o);
    var socket = null;
    var closed = false;
    loadSocketIO(new URL('socket.io.js', prefix).toString()).then(
      function (io) {
        if (closed || !link.live()) {
          return;
        }
        var opts = { path: prefix.pathname, reconnection: false, forceNew: true, timeout: o.connectTimeout };
        if (o.socketioTransports) {
          opts.transports = o.socketioTransports;
        }
        if (o.token) {
          opts.auth = { token: o.token };
        }
        socket = io(prefix.origin, opts);
        var deliver = function (name, data, meta) {
          if (meta && typeof meta === 'object' && meta.session === o.session) {
            link.event({ seq: meta.seq, type: meta.type || name, session: meta.session, data: data });
          }
        };
        if (typeof socket.onAny === 'function') {
          socket.onAny(deliver);
        } else {
          // socket.io-client 2.x has no onAny: listen to the default event names.
          ['progress', 'complete', 'error'].forEach(function (name) {
            socket.on(name, function (data, meta) {
              deliver(name, data, meta);
            });
          });
        }
        socket.on('connect', function () {
          var payload = { after: after };
          if (o.token) {
            payload.token = o.token;
          }
          socket.emit('registerSession', o.session, payload, function (ack) {
            if (ack && ack.ok) {
              link.up();
            } else {
              link.fail('registerSession refused: ' + ((ack && ack.error) || 'no reason given'));
            }
          });
        });
        socket.on('connect_error', function (err) {
          link.fail('connect error: ' + ((err && err.message) || err));
        });
        socket.on('disconnect', function (reason) {
          if (reason !== 'io client disconnect') {
            link.fail('disconnected: ' + reason);
          }
        });
      },
      function (err) {
        link.fail(err.message);
      }
    );
    return function () {
      closed = true;
      if (socket) {
        socket.off();
        if (typeof socket.offAny === 'function') {
          socket.offAny();
        }
        socket.disconnect();
      }
    };
  }

  // WebSocket close codes after which retrying the same registration cannot succeed.
  var FATAL_CLOSE = { 1007: true, 1008: true, 4401: true };

  function openWebSocket(o, after, link) {
    var seed = !!o.paths.websocket;
    var url;
    if (seed) {
      url = toWebSocketURL(absolute(o.paths.websocket, o));
    } else {
      url = toWebSocketURL(sessionURL(o));
      url.searchParams.set('after', String(after));
      if (o.token) {
        url.searchParams.set('token', o.token);
      }
    }
    var ws = new global.WebSocket(url.toString());
    ws.onopen = function () {
      if (seed) {
        var reg = { sessionId: o.session, after: after, envelope: true };
        if (o.token) {
          reg.token = o.token;
        }
        ws.send(JSON.stringify(reg));
      }
      link.up();
    };
    ws.onmessage = function (m) {
      var env = parseEnvelope(m.data);
      if (env) {
        link.event(env);
      } else {
        link.fail('a frame is not an event envelope');
      }
    };
    ws.onclose = function (e) {
      var why = 'closed with code ' + e.code + (e.reason ? ' (' + e.reason + ')' : '');
      link.fail(why, FATAL_CLOSE[e.code] ? 'fatal' : '');
    };
    return function () {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(1000, 'client closed');
    };
  }

  function openSSE(o, after, link) {
    var url = sessionURL(o);
    url.searchParams.set('envelope', '1');
    url.searchParams.set('after', String(after));
    if (o.token) {
      url.searchParams.set('token', o.token); // EventSource cannot send headers
    }
    var es = new global.EventSource(url.toString());
    var opened = false;
    es.onopen = function () {
      opened = true;
      link.up();
    };
    es.onmessage = function (m) {
      var env = parseEnvelope(m.data);
      if (env) {
        link.event(env);
      } else {
        link.fail('an event is not an envelope');
      }
    };
    // EventSource would reconnect by itself with Last-Event-ID; the connection reconnects instead,
    // so that every transport follows the same backoff and fallback.
    es.onerror = function () {
      es.close();
      link.fail(opened ? 'stream interrupted' : 'stream refused (an HTTP error, or the network)');
    };
    return function () {
      es.onopen = es.onmessage = es.onerror = null;
      es.close();
    };
  }

  function openPoll(o, after, link) {
    var cursor = after;
    var controller = null;
    var stopped = false;
    function poll(wait) {
      controller = typeof AbortController === 'function' ? new AbortController() : null;
      var hung = setTimeout(function () {
        if (controller) {
          controller.abort();
        }
      }, (wait + 15) * 1000);
      var url = sessionURL(o);
      url.searchParams.set('after', String(cursor));
      url.searchParams.set('wait', String(wait));
      var headers = { Accept: 'application/json' };
      if (o.token) {
        headers.Authorization = 'Bearer ' + o.token;
      }
      fetch(url.toString(), { headers: headers, cache: 'no-store', signal: controller ? controller.signal : undefined })
        .then(function (resp) {
          return resp.text().then(function (text) {
            return { resp: resp, text: text };
          });
        })
        .then(function (r) {
          clearTimeout(hung);
          if (stopped) {
            return;
          }
          var body = parseJSON(r.text);
          if (!r.resp.ok) {
            var detail = body && body.error ? body.error : r.resp.statusText;
            var status = r.resp.status;
            link.fail('HTTP ' + status + (detail ? ': ' + detail : ''), status === 400 || status === 401 || status === 403 ? 'fatal' : '');
            return;
          }
          if (!body || !Array.isArray(body.events)) {
            link.fail('the answer is not a poll result');
            return;
          }
          link.up();
          for (var i = 0; i < body.events.length && !stopped; i++) {
            link.event(body.events[i]);
          }
          if (stopped || !link.live()) {
            return;
          }
          if (typeof body.last === 'number' && body.last > cursor) {
            cursor = body.last;
          }
          if (body.done) {
            link.finished();
            return;
          }
          poll(o.pollWait);
        })
        .catch(function (err) {
          clearTimeout(hung);
          if (!stopped) {
            link.fail(err && err.name === 'AbortError' ? 'no answer within ' + (wait + 15) + ' s' : 'request failed: ' + ((err && err.message) || err));
          }
        });
    }
    poll(0); // answers at once, so that a session with no events yet still counts as connected
    return function () {
      stopped = true;
      if (controller) {
        controller.abort();
      }
    };
  }

  // peek asks the relay for the newest seq after `after` without waiting.
  function peek(o, after) {
    var url = sessionURL(o);
    url.searchParams.set('after', String(after));
    url.searchParams.set('wait', '0');
    var headers = { Accept: 'application/json' };
    if (o.token) {
      headers.Authorization = 'Bearer ' + o.token;
    }
    return fetch(url.toString(), { headers: headers, cache: 'no-store' })
      .then(function (resp) {
        return resp.ok ? resp.json() : null;
      })
      .then(function (body) {
        return body && typeof body.last === 'number' ? body.last : after;
      });
  }

  function parseJSON(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  function parseEnvelope(text) {
    var env = parseJSON(text);
    return env && typeof env === 'object' && 'seq' in env ? env : null;
  }

  return {
    version: VERSION,
    transports: TRANSPORTS.slice(),
    defaults: defaults,
    connect: connect
  };
});
