// The test console: single-transport tests, a simulated import followed with ProgressRelay, the
// connection state of every transport, an event log and the errors. Everything it needs is inline
// in the page or served by the relay; the relay's paths come from the #relay-config JSON.
(function () {
  'use strict';

  var LABELS = { socketio: 'Socket.IO', websocket: 'WebSocket', sse: 'Server-Sent Events', poll: 'Long-poll' };
  var SHORT = { socketio: 'Socket.IO', websocket: 'WebSocket', sse: 'SSE', poll: 'Long-poll' };
  var STATE_TEXT = {
    idle: 'Idle',
    unused: 'Not used',
    off: 'Off',
    connecting: 'Connecting',
    connected: 'Connected',
    failed: 'Failed',
    closed: 'Closed',
    testing: 'Testing',
    passed: 'Passed'
  };
  var LOG_LIMIT = 1000;
  var TEST_ROWS = 8;
  var TEST_TIMEOUT = 30000;

  var config = readConfig();
  var relayPaths = config.paths;

  function $(id) {
    return document.getElementById(id);
  }

  // State that end-to-end tests read; the page itself never reads it back.
  var exposed = (window.progressRelayPage = { config: config, run: null, tests: {} });

  function readConfig() {
    var defaults = {
      paths: { subscribe: '/api/import/progress/{session}', websocket: '/', socketio: '/socket.io/' },
      import: '/api/import',
      health: '/relay/health',
      clientJs: '/progress-relay.js',
      clientModule: '/progress-relay.mjs',
      transports: ['socketio', 'websocket', 'sse', 'poll']
    };
    var el = $('relay-config');
    var given = {};
    try {
      given = el ? JSON.parse(el.textContent) : {};
    } catch (e) {
      given = {};
    }
    var paths = given.paths || {};
    return {
      paths: {
        subscribe: 'subscribe' in paths ? paths.subscribe || null : defaults.paths.subscribe,
        websocket: 'websocket' in paths ? paths.websocket || null : defaults.paths.websocket,
        socketio: 'socketio' in paths ? paths.socketio || null : defaults.paths.socketio
      },
      import: 'import' in given ? given.import || null : defaults.import,
      health: 'health' in given ? given.health || null : defaults.health,
      clientJs: 'clientJs' in given ? given.clientJs || null : defaults.clientJs,
      clientModule: 'clientModule' in given ? given.clientModule || null : defaults.clientModule,
      transports: Array.isArray(given.transports) ? given.transports : defaults.transports
    };
  }

  // ---- small helpers ----

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text != null) {
      node.textContent = String(text);
    }
    return node;
  }

  function clock(ms) {
    var d = new Date(ms);
    function pad(n, w) {
      return String(n).padStart(w || 2, '0');
    }
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  function duration(ms) {
    if (ms < 1000) {
      return Math.round(ms) + ' ms';
    }
    if (ms < 60000) {
      return (ms / 1000).toFixed(1) + ' s';
    }
    return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
  }

  function number(n) {
    return typeof n === 'number' && isFinite(n) ? n.toLocaleString() : '–';
  }

  function randomTag() {
    var bytes = new Uint8Array(4);
    crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return b.toString(36).padStart(2, '0');
      })
      .join('')
      .slice(0, 6);
  }

  // ---- errors ----

  function showError(title, detail) {
    var box = el('div', 'error');
    var text = el('div');
    text.appendChild(el('strong', null, title));
    if (detail) {
      text.appendChild(document.createTextNode(' ' + detail));
    }
    var dismiss = el('button', null, 'Dismiss');
    dismiss.type = 'button';
    dismiss.setAttribute('aria-label', 'Dismiss: ' + title);
    dismiss.addEventListener('click', function () {
      box.remove();
    });
    box.appendChild(text);
    box.appendChild(dismiss);
    $('errors').appendChild(box);
    log({ source: 'page', type: 'error', level: 'error', details: title + (detail ? ' ' + detail : '') });
  }

  // ---- rendering ----

  // Rows for the log and the results table are built at once but added to the document once per
  // frame: appending and scrolling per event would lay the page out hundreds of times a second,
  // and the main thread would fall behind the events (which shows as growing latency).
  var queued = { log: [], rows: [] };
  var renderScheduled = false;

  function scheduleRender() {
    if (!renderScheduled) {
      renderScheduled = true;
      requestAnimationFrame(render);
      setTimeout(render, 250); // frames stop in a hidden tab; the page still keeps up
    }
  }

  function render() {
    if (!renderScheduled) {
      return;
    }
    renderScheduled = false;
    if (queued.log.length) {
      var body = $('log-body');
      body.appendChild(fragment(queued.log));
      logCount += queued.log.length;
      queued.log = [];
      while (body.rows.length > LOG_LIMIT) {
        body.deleteRow(0);
      }
      $('log-count').textContent = String(logCount);
      if ($('log-follow').checked) {
        var wrap = $('log-wrap');
        wrap.scrollTop = wrap.scrollHeight;
      }
    }
    if (queued.rows.length) {
      $('rows-body').appendChild(fragment(queued.rows));
      queued.rows = [];
      $('rows-count').textContent = String($('rows-body').rows.length);
      $('rows-empty').hidden = true;
    }
  }

  function fragment(nodes) {
    var f = document.createDocumentFragment();
    nodes.forEach(function (n) {
      f.appendChild(n);
    });
    return f;
  }

  // ---- event log ----

  var logCount = 0;

  function log(entry) {
    var row = el('tr');
    row.dataset.level = entry.level || 'event';
    var at = entry.at || Date.now();
    row.appendChild(el('td', 'num', clock(at)));
    row.appendChild(el('td', null, entry.source || ''));
    row.appendChild(el('td', 'num', entry.seq != null ? entry.seq : ''));
    row.appendChild(el('td', null, entry.type || ''));
    row.appendChild(el('td', 'details', entry.details || ''));
    applyFilter(row);
    queued.log.push(row);
    scheduleRender();
  }

  function applyFilter(row) {
    var q = $('log-filter').value.trim().toLowerCase();
    row.classList.toggle('hidden', q !== '' && row.textContent.toLowerCase().indexOf(q) < 0);
  }

  function describe(evt) {
    var d = evt.data || {};
    var parts = [];
    if (typeof d.processed === 'number') {
      parts.push(d.processed + '/' + d.total);
    }
    if (d.row) {
      parts.push('line ' + d.row.line + ' ' + (d.row.email || '(no email)') + ' ' + d.row.status + (d.row.error ? ': ' + d.row.error : ''));
    }
    if (evt.type === 'complete') {
      parts.push('created ' + d.created + ', failed ' + d.failed);
    }
    if (evt.type === 'error' && d.error) {
      parts.push(d.error);
    }
    if (typeof d.sentAt === 'number') {
      parts.push(Math.max(0, evt.receivedAt - d.sentAt) + ' ms');
    }
    return parts.length ? parts.join(' · ') : JSON.stringify(d).slice(0, 200);
  }

  // ---- transport cards ----

  var cards = {};

  function buildCards() {
    var tpl = $('transport-template');
    ['socketio', 'websocket', 'sse', 'poll'].forEach(function (name) {
      var node = tpl.content.firstElementChild.cloneNode(true);
      node.dataset.transport = name;
      node.querySelector('.transport-name').textContent = LABELS[name];
      node.querySelector('.transport-path').textContent = transportPath(name) || 'off on this relay';
      var button = node.querySelector('.transport-test');
      button.setAttribute('aria-label', 'Test ' + LABELS[name]);
      button.addEventListener('click', function () {
        runTest(name);
      });
      cards[name] = node;
      $('transport-list').appendChild(node);
      if (!transportPath(name)) {
        setCard(name, 'off', 'Not offered by this relay.');
        button.disabled = true;
      }
    });
  }

  function transportPath(name) {
    if (config.transports.indexOf(name) < 0) {
      return null;
    }
    switch (name) {
      case 'socketio':
        return relayPaths.socketio;
      case 'websocket':
        if (relayPaths.websocket) {
          return relayPaths.websocket + ' (seed protocol)';
        }
        return relayPaths.subscribe ? relayPaths.subscribe + ' (by URL)' : null;
      default:
        return relayPaths.subscribe;
    }
  }

  function setCard(name, state, detail, metrics) {
    var node = cards[name];
    if (node.dataset.state === 'off') {
      return;
    }
    node.dataset.state = state;
    node.querySelector('.pill').textContent = STATE_TEXT[state] || state;
    if (detail != null) {
      node.querySelector('.transport-detail').textContent = detail;
    }
    if (metrics) {
      Object.keys(metrics).forEach(function (k) {
        node.querySelector('[data-metric="' + k + '"]').textContent = metrics[k];
      });
    }
  }

  // showConnection mirrors a connection's view of every transport on the cards.
  function showConnection(status) {
    Object.keys(status.transports).forEach(function (name) {
      var t = status.transports[name];
      if (t.state === 'unused' || t.state === 'idle') {
        return;
      }
      var detail = t.reason || (t.state === 'connected' ? 'Active for session ' + status.session : '');
      setCard(name, t.state, detail, t.events ? { events: number(t.events) } : null);
    });
  }

  // ---- talking to the backend ----

  function makeCSV(rows, withBad, tag) {
    var first = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Tim'];
    var last = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Ritchie', 'Perlman', 'Lee'];
    var depts = ['Engineering', 'Sales', 'Support', 'Finance', 'Marketing', ''];
    var lines = ['email,first_name,last_name,department'];
    var emails = [];
    for (var i = 1; i <= rows; i++) {
      var f = first[i % first.length];
      var l = last[(i * 7) % last.length];
      var email = (f + '.' + l + '.' + i + '+' + tag + '@example.com').toLowerCase();
      var dept = depts[i % depts.length];
      if (withBad && i % 23 === 0) {
        switch ((i / 23) % 4) {
          case 0:
            email = email.replace('@', ' at '); // not an address
            break;
          case 1:
            email = emails.length ? emails[emails.length - 1] : email; // duplicate of the row above
            break;
          case 2:
            f = ''; // missing first name
            break;
          case 3:
            email = ''; // missing email
            break;
        }
      }
      emails.push(email);
      lines.push([email, f, l, dept].join(','));
    }
    return lines.join('\n') + '\n';
  }

  function importURL(params) {
    var u = new URL(config.import, location.href);
    Object.keys(params).forEach(function (k) {
      if (params[k] != null) {
        u.searchParams.set(k, String(params[k]));
      }
    });
    return u.toString();
  }

  function postJSON(url, body, contentType) {
    return fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': contentType || 'application/json', Accept: 'application/json' },
      body: body
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try {
          data = text ? JSON.parse(text) : null;
        } catch (e) {
          data = null;
        }
        if (!resp.ok) {
          var why = data && data.error ? data.error : text.slice(0, 200) || resp.statusText;
          throw new Error('HTTP ' + resp.status + ' from ' + new URL(url).pathname + ': ' + why);
        }
        return data || {};
      });
    });
  }

  // startImport creates an import that waits for its start call, so that the page is subscribed
  // before the first event and can check that it saw every seq from 1.
  function createImport(csv, opts) {
    return postJSON(importURL({ start: 'deferred', pace: opts.pace, fail_after: opts.failAfter }), csv, 'text/csv').then(function (created) {
      if (!created.sessionId) {
        throw new Error('the import endpoint answered without a sessionId');
      }
      return created;
    });
  }

  function startCreated(created) {
    if (!created.start) {
      return Promise.resolve(); // this backend starts imports at once
    }
    return postJSON(new URL(created.start, location.href).toString(), '{}');
  }

  // follow connects ProgressRelay and starts the import once a transport is up.
  function follow(created, transports, handlers) {
    var started = false;
    var connectedAt = 0;
    var t0 = performance.now();
    var relay = ProgressRelay.connect({
      session: created.sessionId,
      token: created.token,
      transports: transports,
      paths: relayPaths,
      offered: config.transports,
      onEvent: handlers.onEvent,
      onStatus: function (status) {
        if (status.state === 'connected' && !connectedAt) {
          connectedAt = performance.now() - t0;
        }
        if (status.state === 'connected' && !started && created.start) {
          started = true;
          startCreated(created).catch(function (err) {
            handlers.onStartError(err);
          });
        }
        handlers.onStatus(status, connectedAt);
      }
    });
    return relay;
  }

  // ---- the import run ----

  var run = null;

  function resetRun(session, transports) {
    if (run && run.relay) {
      run.relay.close();
    }
    clearInterval(run && run.ticker);
    run = {
      session: session,
      transports: transports,
      relay: null,
      startedAt: performance.now(),
      seqs: [],
      latencies: [],
      state: 'connecting',
      summary: null,
      ticker: setInterval(tickElapsed, 250)
    };
    exposed.run = { session: session, seqs: run.seqs, state: 'connecting', transport: null, transportsUsed: [], summary: null, status: null };
    queued.rows = [];
    $('rows-body').textContent = '';
    $('rows-count').textContent = '0';
    $('rows-empty').hidden = false;
    $('summary').hidden = true;
    $('summary').textContent = '';
    $('stat-session').textContent = session;
    ['stat-processed', 'stat-total', 'stat-created', 'stat-failed'].forEach(function (id) {
      $(id).textContent = '0';
    });
    ['stat-transport', 'stat-seq', 'stat-latency'].forEach(function (id) {
      $(id).textContent = '–';
    });
    setProgress(0);
    setRunState('connecting', 'Connecting…');
    $('import-stop').disabled = false;
  }

  function tickElapsed() {
    if (run) {
      $('stat-elapsed').textContent = duration(performance.now() - run.startedAt);
    }
  }

  function setRunState(state, text) {
    $('run').dataset.state = state;
    $('run-state').textContent = text;
    if (run) {
      run.state = state;
      exposed.run.state = state;
    }
  }

  function setProgress(pct) {
    var p = Math.max(0, Math.min(100, pct));
    $('progress-fill').style.width = p + '%';
    $('progress').setAttribute('aria-valuenow', String(Math.round(p)));
    $('run-percent').textContent = Math.floor(p) + '%';
  }

  function onRunEvent(evt) {
    var d = evt.data || {};
    run.seqs.push(evt.seq);
    if (exposed.run.transportsUsed.indexOf(evt.transport) < 0) {
      exposed.run.transportsUsed.push(evt.transport);
    }
    log({ at: evt.receivedAt, source: evt.transport, seq: evt.seq, type: evt.type, details: describe(evt), level: evt.type === 'error' ? 'error' : 'event' });
    $('stat-seq').textContent = String(evt.seq);
    if (typeof d.sentAt === 'number') {
      var lat = Math.max(0, evt.receivedAt - d.sentAt);
      run.latencies.push(lat);
      $('stat-latency').textContent = lat + ' ms';
    }
    if (typeof d.total === 'number') {
      $('stat-processed').textContent = number(d.processed);
      $('stat-total').textContent = number(d.total);
      $('stat-created').textContent = number(d.created);
      $('stat-failed').textContent = number(d.failed);
      setProgress(d.total ? (100 * d.processed) / d.total : evt.type === 'complete' ? 100 : 0);
    }
    if (d.row) {
      addRow(d.row);
    }
    if (evt.type === 'progress' && run.state !== 'running') {
      setRunState('running', 'Importing…');
    }
    if (evt.type === 'complete') {
      finishRun('complete', d);
    } else if (evt.type === 'error') {
      finishRun('error', d);
    }
  }

  function addRow(row) {
    var tr = el('tr', row.status === 'created' ? 'created' : 'failed');
    tr.appendChild(el('td', 'num', row.line));
    tr.appendChild(el('td', 'email', row.email || '—'));
    tr.appendChild(el('td', null, row.name || ''));
    var result = el('td');
    result.appendChild(el('span', 'tag ' + (row.status === 'created' ? 'created' : 'failed'), row.status));
    tr.appendChild(result);
    tr.appendChild(el('td', null, row.error || ''));
    queued.rows.push(tr);
    scheduleRender();
  }

  function finishRun(kind, d) {
    renderScheduled = true;
    render(); // every row is in the table before the page says it is done
    clearInterval(run.ticker);
    tickElapsed();
    run.summary = d;
    exposed.run.summary = d;
    $('import-stop').disabled = true;
    var box = $('summary');
    box.textContent = '';
    box.dataset.kind = kind;
    if (kind === 'complete') {
      setProgress(100);
      setRunState('complete', 'Complete');
      box.appendChild(el('h3', null, 'Import complete'));
      box.appendChild(
        el('p', null, number(d.created) + ' created, ' + number(d.failed) + ' failed, ' + number(d.total) + ' rows' + (typeof d.durationMs === 'number' ? ' in ' + duration(d.durationMs) : '') + '.')
      );
    } else {
      setRunState('error', 'Import failed');
      box.appendChild(el('h3', null, 'Import failed'));
      box.appendChild(el('p', null, d.error || 'The backend reported a fatal error.'));
      box.appendChild(el('p', null, 'Processed ' + number(d.processed) + ' of ' + number(d.total) + ' rows: ' + number(d.created) + ' created, ' + number(d.failed) + ' failed.'));
    }
    if (run.latencies.length) {
      var sum = run.latencies.reduce(function (a, b) {
        return a + b;
      }, 0);
      box.appendChild(
        el('p', null, 'Latency backend → browser: average ' + Math.round(sum / run.latencies.length) + ' ms, max ' + Math.max.apply(null, run.latencies) + ' ms over ' + run.latencies.length + ' events.')
      );
    }
    if (d.errors && d.errors.length) {
      var list = el('ul');
      d.errors.slice(0, 10).forEach(function (e) {
        list.appendChild(el('li', null, 'Line ' + e.line + (e.email ? ' (' + e.email + ')' : '') + ': ' + e.error));
      });
      box.appendChild(el('p', null, 'Rejected rows' + (d.errors.length > 10 ? ' (first 10 of ' + d.errors.length + ')' : '') + ':'));
      box.appendChild(list);
    }
    box.hidden = false;
  }

  function onRunStatus(status) {
    if (!run) {
      return;
    }
    exposed.run.status = status;
    exposed.run.transport = status.transport;
    showConnection(status);
    if (status.transport) {
      $('stat-transport').textContent = SHORT[status.transport];
    }
    if (status.state === 'reconnecting') {
      setRunState('reconnecting', 'Reconnecting…');
    } else if (status.state === 'connected' && (run.state === 'connecting' || run.state === 'reconnecting')) {
      setRunState(run.seqs.length ? 'running' : 'waiting', run.seqs.length ? 'Importing…' : 'Connected, waiting for events…');
    } else if (status.state === 'failed') {
      setRunState('failed', 'Connection failed');
      showError('Could not follow the import.', status.message);
      clearInterval(run.ticker);
    }
    log({ source: status.transport || 'client', type: 'status', level: 'status', details: status.state + ': ' + status.message });
  }

  function startImport(event) {
    event.preventDefault();
    var rows = Math.max(1, Math.min(5000, parseInt($('import-rows').value, 10) || 200));
    var pace = Math.max(0, Math.min(2000, parseInt($('import-pace').value, 10) || 0));
    var choice = $('import-transport').value;
    var transports = choice === 'auto' ? undefined : [choice];
    var file = $('import-file').files[0];
    var fatal = $('import-fatal').checked;
    $('import-start').disabled = true;
    (file ? file.text() : Promise.resolve(makeCSV(rows, $('import-bad').checked, randomTag())))
      .then(function (csv) {
        // Halfway through the data rows: the lines after the header.
        var dataRows = csv.split('\n').filter(function (line) {
          return line.trim() !== '';
        }).length - 1;
        return createImport(csv, { pace: pace, failAfter: fatal ? Math.max(1, Math.floor(dataRows / 2)) : undefined });
      })
      .then(function (created) {
        resetRun(created.sessionId, transports);
        log({ source: 'page', type: 'import', level: 'status', details: 'created ' + created.sessionId + ' (' + number(created.total) + ' rows)' });
        run.relay = follow(created, transports, {
          onEvent: onRunEvent,
          onStatus: onRunStatus,
          onStartError: function (err) {
            showError('The import did not start.', err.message);
            setRunState('failed', 'Import did not start');
          }
        });
      })
      .catch(function (err) {
        showError('Could not create the import.', err.message);
      })
      .then(function () {
        $('import-start').disabled = false;
      });
  }

  function stopFollowing() {
    if (run && run.relay) {
      run.relay.close();
      clearInterval(run.ticker);
      setRunState('stopped', 'Stopped following');
      $('import-stop').disabled = true;
    }
  }

  function startWatch(event) {
    event.preventDefault();
    var session = $('watch-session').value.trim();
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(session) || session === '.' || session === '..') {
      showError('Invalid session ID.', 'Use 1–128 characters of A–Z, a–z, 0–9, ".", "_", ":" or "-".');
      return;
    }
    var choice = $('import-transport').value;
    var transports = choice === 'auto' ? undefined : [choice];
    resetRun(session, transports);
    run.relay = follow({ sessionId: session, token: $('watch-token').value.trim() || undefined }, transports, {
      onEvent: onRunEvent,
      onStatus: onRunStatus,
      onStartError: function () {}
    });
  }

  // ---- single-transport tests ----

  function runTest(name) {
    var result = { transport: name, state: 'testing', seqs: [], latencies: [], error: null, connectMs: null };
    exposed.tests[name] = result;
    var button = cards[name].querySelector('.transport-test');
    button.disabled = true;
    setCard(name, 'testing', 'Creating a test import…', { connect: '–', events: '–', latency: '–' });
    return new Promise(function (resolve) {
      var relay = null;
      var timer = null;
      function done(ok, message) {
        if (result.state !== 'testing') {
          return;
        }
        clearTimeout(timer);
        if (relay) {
          relay.close();
        }
        result.state = ok ? 'passed' : 'failed';
        result.error = ok ? null : message;
        var lat = result.latencies;
        var avg = lat.length
          ? Math.round(
              lat.reduce(function (a, b) {
                return a + b;
              }, 0) / lat.length
            )
          : null;
        setCard(name, ok ? 'passed' : 'failed', message, {
          events: String(result.seqs.length),
          latency: avg == null ? '–' : avg + ' ms'
        });
        log({ source: name, type: 'test', level: ok ? 'status' : 'error', details: (ok ? 'passed: ' : 'failed: ') + message });
        button.disabled = false;
        resolve(result);
      }
      timer = setTimeout(function () {
        done(false, 'no complete event within ' + TEST_TIMEOUT / 1000 + ' s');
      }, TEST_TIMEOUT);
      var csv = makeCSV(TEST_ROWS, false, name + randomTag());
      createImport(csv, { pace: 25 })
        .then(function (created) {
          result.session = created.sessionId;
          setCard(name, 'testing', 'Connecting to ' + created.sessionId + '…');
          relay = follow(created, [name], {
            onEvent: function (evt) {
              result.seqs.push(evt.seq);
              if (evt.data && typeof evt.data.sentAt === 'number') {
                result.latencies.push(Math.max(0, evt.receivedAt - evt.data.sentAt));
              }
              log({ at: evt.receivedAt, source: evt.transport, seq: evt.seq, type: evt.type, details: 'test · ' + describe(evt) });
              setCard(name, 'testing', 'Receiving…', { events: String(result.seqs.length) });
              if (evt.type === 'complete') {
                var contiguous = result.seqs.every(function (s, i) {
                  return s === i + 1;
                });
                done(contiguous, contiguous ? 'Received seq 1–' + evt.seq + ' in order; registered in ' + result.connectMs + ' ms.' : 'seqs not contiguous: ' + result.seqs.join(','));
              } else if (evt.type === 'error') {
                done(false, 'the test import reported an error: ' + ((evt.data && evt.data.error) || 'unknown'));
              }
            },
            onStatus: function (status, connectedAt) {
              if (connectedAt && result.connectMs == null) {
                result.connectMs = Math.round(connectedAt);
                setCard(name, 'testing', 'Connected, waiting for events…', { connect: result.connectMs + ' ms' });
              }
              var t = status.transports[name];
              if (t.state === 'failed' || t.state === 'off' || status.state === 'failed') {
                done(false, t.reason || status.message);
              }
            },
            onStartError: function (err) {
              done(false, 'the test import did not start: ' + err.message);
            }
          });
        })
        .catch(function (err) {
          done(false, err.message);
        });
    });
  }

  function testAll() {
    var button = $('test-all');
    button.disabled = true;
    var names = ['socketio', 'websocket', 'sse', 'poll'].filter(function (n) {
      return cards[n].dataset.state !== 'off';
    });
    var chain = Promise.resolve();
    names.forEach(function (n) {
      chain = chain.then(function () {
        return runTest(n);
      });
    });
    chain.then(function () {
      button.disabled = false;
    });
  }

  // ---- relay health ----

  function checkHealth() {
    var box = $('health');
    if (!config.health) {
      box.dataset.state = 'unknown';
      $('health-text').textContent = 'Health endpoint off';
      return;
    }
    fetch(config.health, { cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (resp) {
        return resp.json().then(
          function (body) {
            return { ok: resp.ok, body: body };
          },
          function () {
            return { ok: false, body: null };
          }
        );
      })
      .then(function (r) {
        var b = r.body || {};
        box.dataset.state = r.ok && b.status === 'ok' ? 'ok' : 'down';
        var subs = b.subscribers || {};
        var total = Object.keys(subs).reduce(function (a, k) {
          return a + (subs[k] || 0);
        }, 0);
        $('health-text').textContent =
          (r.ok ? 'Relay ' + (b.status || 'up') : 'Relay unhealthy') +
          (b.broker ? ' · broker ' + b.broker : '') +
          (typeof b.sessions === 'number' ? ' · ' + b.sessions + ' sessions' : '') +
          ' · ' + total + ' subscribers';
      })
      .catch(function () {
        box.dataset.state = 'down';
        $('health-text').textContent = 'Relay unreachable';
      });
  }

  // ---- start ----

  function init() {
    $('import-path').textContent = config.import || '(off)';
    $('client-path').textContent = config.clientJs || '(off)';
    $('module-path').textContent = config.clientModule || '(off)';
    $('client-version').textContent = 'progress-relay.js ' + ProgressRelay.version;
    buildCards();
    if (!config.import) {
      $('import-start').disabled = true;
      $('test-all').disabled = true;
      showError('No import endpoint configured.', 'Simulated imports and transport tests need the backend\'s import endpoint.');
    }
    $('import-form').addEventListener('submit', startImport);
    $('import-stop').addEventListener('click', stopFollowing);
    $('watch-form').addEventListener('submit', startWatch);
    $('test-all').addEventListener('click', testAll);
    $('rows-failed-only').addEventListener('change', function (e) {
      $('rows-table').classList.toggle('only-failed', e.target.checked);
    });
    $('log-filter').addEventListener('input', function () {
      Array.prototype.forEach.call($('log-body').rows, applyFilter);
    });
    $('log-clear').addEventListener('click', function () {
      queued.log = [];
      $('log-body').textContent = '';
      logCount = 0;
      $('log-count').textContent = '0';
    });
    checkHealth();
    setInterval(checkHealth, 10000);
  }

  init();
})();
