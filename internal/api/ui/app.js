// The failover dashboard: plain JavaScript, no framework, no build step and
// nothing loaded from elsewhere. It fetches /api/v1/services and
// /api/v1/events, then follows /api/v1/stream.
//
// Stable hooks for tests and scripts:
//   [data-service=NAME]                       one service
//   [data-service=NAME] .state                its state (text), data-state
//   [data-service=NAME] [data-weight-target=T] T's routing weight (text)
//   [data-service=NAME] [data-desired-target=T] T's desired weight, when it differs
//   [data-service=NAME] [data-cell="T/V"]     what vantage V saw of target T
//   [data-service=NAME] .override-banner      the active drill or pin
//   [data-service=NAME] button[data-action=drill|pin|release]
//   [data-service=NAME] .action-status        the outcome of the last action
//   [data-service=NAME] .events [data-event-id]
//   #conn[data-conn=connecting|live|reconnecting|offline]
'use strict';

(() => {
  const TOKEN_KEY = 'failover.token';
  const MAX_EVENTS = 20;
  const RETRY_MAX_MS = 30000;

  const services = new Map(); // name -> Service
  const events = new Map(); // name -> [Event], newest first
  const cards = new Map(); // name -> <section>
  // Stream updates win over a fetch that started before them.
  let streamSeq = 0;
  const updatedAt = new Map(); // name -> streamSeq of its last stream update
  let stream = null;

  const $ = (sel, root = document) => root.querySelector(sel);

  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // --- the token and requests ---

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* storage disabled: the token lives for this page only */ }
    $('#token').value = '';
    $('#token-status').textContent = t ? 'token set' : 'no token';
  }

  async function api(path, init = {}) {
    const headers = new Headers(init.headers || {});
    const t = token();
    if (t) headers.set('Authorization', 'Bearer ' + t);
    const res = await fetch(path, { ...init, headers, cache: 'no-store' });
    let body = null;
    try { body = await res.json(); } catch { body = null; }
    if (!res.ok) {
      const err = new Error(body && body.error ? body.error : res.status + ' ' + res.statusText);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function notice(msg) {
    const n = $('#notice');
    n.textContent = msg || '';
    n.hidden = !msg;
  }

  function setConn(state) {
    const c = $('#conn');
    c.dataset.conn = state;
    c.textContent = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', offline: 'offline' }[state] || state;
  }

  function authNotice(e) {
    if (e.status === 401) notice('A token is needed to see this page: enter a viewer or operator token above. (' + e.message + ')');
    else if (e.status === 403) notice('This token may not read services: ' + e.message);
    else notice('Cannot load services: ' + e.message);
  }

  // --- loading ---

  async function refresh() {
    const start = streamSeq;
    let list;
    try {
      list = (await api('api/v1/services')).services;
    } catch (e) {
      authNotice(e);
      return;
    }
    notice('');
    const names = new Set(list.map((s) => s.name));
    for (const name of [...services.keys()]) if (!names.has(name)) removeService(name);
    for (const s of list) {
      if ((updatedAt.get(s.name) || 0) <= start) render(s);
    }
    $('#empty').hidden = list.length > 0;
    if (list.length === 0) $('#empty').textContent = 'No services are configured.';
    await Promise.all(list.map((s) => loadEvents(s.name)));
  }

  async function loadEvents(name) {
    try {
      const q = 'api/v1/events?service=' + encodeURIComponent(name) + '&limit=' + MAX_EVENTS;
      for (const ev of (await api(q)).events) addEvent(ev);
      renderEvents(name);
    } catch (e) {
      notice('Cannot load the events of ' + name + ': ' + e.message);
    }
  }

  function addEvent(ev) {
    if (!ev || !ev.service) return false;
    const list = events.get(ev.service) || [];
    if (list.some((x) => x.id === ev.id)) return false;
    list.push(ev);
    // Ids are zero-padded decimals: string order is id order.
    list.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    if (list.length > MAX_EVENTS) list.length = MAX_EVENTS;
    events.set(ev.service, list);
    return true;
  }

  function onStreamService(s) {
    if (!s || !s.name) return;
    updatedAt.set(s.name, ++streamSeq);
    render(s);
    $('#empty').hidden = true;
  }

  function onStreamEvent(ev) {
    if (addEvent(ev)) renderEvents(ev.service);
  }

  // --- the stream ---

  // connect follows the stream: with EventSource when there is no token
  // (open_read), and otherwise with fetch, because EventSource cannot send
  // an Authorization header. Both reconnect by themselves.
  function connect() {
    if (stream) stream.close();
    stream = token() ? fetchStream() : eventSourceStream();
  }

  function dispatch(type, data) {
    let v;
    try { v = JSON.parse(data); } catch { return; }
    if (type === 'service') onStreamService(v);
    else if (type === 'event') onStreamEvent(v);
  }

  function eventSourceStream() {
    let closed = false;
    let timer = null;
    let es = null;
    let delay = 1000;
    const open = () => {
      setConn('connecting');
      es = new EventSource('api/v1/stream');
      es.onopen = () => { delay = 1000; setConn('live'); refresh(); };
      es.onerror = () => {
        if (closed) return;
        if (es.readyState === EventSource.CLOSED) {
          // Refused (401, 503, ...): EventSource gives up; we do not.
          setConn('offline');
          refresh();
          timer = setTimeout(open, delay);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
        } else {
          setConn('reconnecting');
        }
      };
      es.addEventListener('service', (m) => dispatch('service', m.data));
      es.addEventListener('event', (m) => dispatch('event', m.data));
    };
    open();
    return { close() { closed = true; clearTimeout(timer); if (es) es.close(); } };
  }

  function fetchStream() {
    const ctl = new AbortController();
    let closed = false;
    let lastId = '';
    let delay = 1000;
    const run = async () => {
      while (!closed) {
        setConn('connecting');
        try {
          const headers = { Authorization: 'Bearer ' + token(), Accept: 'text/event-stream' };
          if (lastId) headers['Last-Event-ID'] = lastId;
          const res = await fetch('api/v1/stream', { headers, signal: ctl.signal, cache: 'no-store' });
          if (!res.ok) {
            let msg = res.status + ' ' + res.statusText;
            try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
            const err = new Error(msg);
            err.status = res.status;
            throw err;
          }
          delay = 1000;
          setConn('live');
          refresh();
          await readSSE(res.body, (id) => { lastId = id; }, (ms) => { delay = ms; });
        } catch (e) {
          if (closed) return;
          if (e.status === 401 || e.status === 403) authNotice(e);
        }
        if (closed) return;
        setConn('reconnecting');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    };
    run();
    return { close() { closed = true; ctl.abort(); } };
  }

  // readSSE parses a text/event-stream body until it ends.
  async function readSSE(body, onId, onRetry) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let type = '';
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (data.length) dispatch(type || 'message', data.join('\n'));
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue; // a comment: the heartbeat
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'event') type = val;
        else if (field === 'data') data.push(val);
        else if (field === 'id') onId(val);
        else if (field === 'retry' && /^\d+$/.test(val)) onRetry(Number(val));
      }
    }
  }

  // --- rendering ---

  function fmtTime(s) {
    if (!s || s.startsWith('0001-')) return '—';
    const d = new Date(s);
    if (isNaN(d)) return s;
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function fmtMs(ms) {
    const v = Number(ms || 0);
    return (v < 10 ? v.toFixed(1) : String(Math.round(v))) + ' ms';
  }

  function card(name) {
    let c = cards.get(name);
    if (c) return c;
    c = $('#service-tpl').content.firstElementChild.cloneNode(true);
    c.dataset.service = name;
    c.id = 'service-' + name;
    for (const b of c.querySelectorAll('button[data-action]')) {
      b.addEventListener('click', () => act(name, b.dataset.action));
    }
    c.querySelector('.action-form').addEventListener('submit', (e) => e.preventDefault());
    // Keep the cards in name order.
    const main = $('#services');
    const after = [...cards.keys()].sort().find((n) => n > name);
    main.insertBefore(c, after ? cards.get(after) : null);
    cards.set(name, c);
    return c;
  }

  function removeService(name) {
    const c = cards.get(name);
    if (c) c.remove();
    cards.delete(name);
    services.delete(name);
    events.delete(name);
  }

  function render(s) {
    services.set(s.name, s);
    const c = card(s.name);
    $('.name', c).textContent = s.name;
    $('.record', c).textContent = s.record || '';
    const st = $('.state', c);
    st.textContent = s.state || 'unknown';
    st.className = 'state state-' + (s.state || 'unknown');
    st.dataset.state = s.state || 'unknown';
    $('.since', c).textContent = 'since ' + fmtTime(s.since);
    $('.reason', c).textContent = s.reason || '';
    renderOverride(c, s.override);
    renderWeights(c, s);
    renderMatrix(c, s.targets || []);
    renderTargetsSelect(c, s.targets || []);
    renderEvents(s.name);
  }

  function renderOverride(c, o) {
    const b = $('.override-banner', c);
    b.replaceChildren();
    b.hidden = !o;
    if (!o) return;
    b.dataset.kind = o.kind;
    b.append(
      el('strong', { text: (o.kind || 'override').toUpperCase() }),
      ' all weight on ',
      el('strong', { 'data-override-to': o.to, text: o.to }),
      o.until && !o.until.startsWith('0001-') ? ' until ' + fmtTime(o.until) : ' until released',
      o.reason ? ' — ' + o.reason : '',
      o.by ? ' (by ' + o.by + ')' : '',
    );
  }

  // targetOrder lists the targets in the service's fallback order, then any
  // other names that carry weight.
  function targetOrder(s) {
    const names = (s.targets || []).map((t) => t.name);
    for (const k of Object.keys({ ...(s.routing || {}), ...(s.desired || {}) }).sort()) {
      if (!names.includes(k)) names.push(k);
    }
    return names;
  }

  function roleOf(s, name) {
    const t = (s.targets || []).find((x) => x.name === name);
    return t ? t.role : 'other';
  }

  function fillBar(bar, s, weights, attr) {
    bar.replaceChildren();
    let total = 0;
    for (const name of targetOrder(s)) {
      const w = Number(weights[name] || 0);
      total += w;
      const seg = el('div', { class: 'seg role-' + roleOf(s, name), [attr]: name, title: `${name}: ${w}%` });
      seg.style.width = Math.max(0, Math.min(100, w)) + '%';
      if (w >= 10) seg.append(el('span', { text: `${name} ${w}` }));
      bar.append(seg);
    }
    bar.classList.toggle('empty', total === 0);
  }

  function sameWeights(a, b) {
    const keys = new Set([...Object.keys(a || {}), ...Object.keys(b || {})]);
    for (const k of keys) if (Number((a || {})[k] || 0) !== Number((b || {})[k] || 0)) return false;
    return true;
  }

  function renderWeights(c, s) {
    const routing = s.routing || {};
    const desired = s.desired || {};
    const differs = Object.keys(desired).length > 0 && !sameWeights(routing, desired);
    fillBar($('[data-bar="routing"]', c), s, routing, 'data-seg-target');
    $('.desired-row', c).hidden = !differs;
    fillBar($('[data-bar="desired"]', c), s, desired, 'data-desired-seg');
    const legend = $('.legend', c);
    legend.replaceChildren();
    for (const name of targetOrder(s)) {
      const li = el('li', { class: 'role-' + roleOf(s, name) },
        el('span', { class: 'swatch' }),
        el('span', { class: 'lname', text: name }), ' ',
        el('b', { 'data-weight-target': name, text: String(routing[name] || 0) }), '%');
      if (differs) {
        li.append(el('span', { class: 'desired' }, ' → ',
          el('span', { 'data-desired-target': name, text: String(desired[name] || 0) }), '%'));
      }
      legend.append(li);
    }
  }

  function renderMatrix(c, targets) {
    const vantages = new Set();
    const impaired = new Set();
    for (const t of targets) {
      for (const [v, view] of Object.entries(t.vantages || {})) {
        vantages.add(v);
        if (view.impaired) impaired.add(v);
      }
    }
    const vs = [...vantages].sort();
    const head = el('tr', {}, el('th', { text: 'target' }), el('th', { text: 'health' }));
    for (const v of vs) {
      const th = el('th', { 'data-vantage': v, class: impaired.has(v) ? 'impaired' : '' , text: v });
      if (impaired.has(v)) {
        th.title = 'impaired vantage: excluded as a probe-side fault';
        th.append(el('small', { text: 'impaired' }));
      }
      head.append(th);
    }
    head.append(el('th', { text: 'last error' }));
    $('.matrix thead', c).replaceChildren(head);

    const rows = targets.map((t) => {
      const tr = el('tr', { 'data-target': t.name },
        el('th', {}, t.name, ' ', el('small', { class: 'muted', text: t.role })),
        el('td', { class: 'health health-' + (t.health || 'unknown'), text: t.health || 'unknown' }));
      for (const v of vs) {
        const view = (t.vantages || {})[v];
        if (!view) {
          tr.append(el('td', { class: 'cell none', 'data-cell': `${t.name}/${v}`, text: '—' }));
          continue;
        }
        const cls = ['cell', view.ok ? 'ok' : 'fail'];
        if (view.impaired) cls.push('impaired');
        if (view.state) cls.push('vstate-' + view.state);
        const td = el('td', {
          class: cls.join(' '), 'data-cell': `${t.name}/${v}`, 'data-class': view.class,
          title: `${t.name} from ${v}: ${view.class}` + (view.state ? `, verdict ${view.state}` : '') + ` at ${fmtTime(view.at)}`,
        }, el('span', { class: 'cls', text: view.class }));
        td.append(el('small', { text: fmtMs(view.latency_ms) }));
        tr.append(td);
      }
      tr.append(el('td', { class: 'last-error', text: t.last_error || '' }));
      return tr;
    });
    $('.matrix tbody', c).replaceChildren(...rows);
  }

  function renderTargetsSelect(c, targets) {
    const sel = $('select[name="to"]', c);
    const names = targets.map((t) => t.name);
    const have = [...sel.options].map((o) => o.value);
    if (have.join('\n') === names.join('\n')) return;
    const keep = sel.value;
    sel.replaceChildren(...targets.map((t) => el('option', { value: t.name, text: `${t.name} (${t.role})` })));
    const fallback = targets.find((t) => t.role !== 'primary');
    sel.value = names.includes(keep) ? keep : (fallback ? fallback.name : names[0] || '');
  }

  function renderEvents(name) {
    const c = cards.get(name);
    if (!c) return;
    const list = events.get(name) || [];
    const items = list.map((ev) => el('li', { 'data-event-id': ev.id, class: 'etype-' + ev.type },
      el('time', { datetime: ev.time, text: fmtTime(ev.time) }), ' ',
      el('span', { class: 'etype', text: ev.type }), ' ',
      ev.from || ev.to ? el('span', { class: 'fromto', text: `${ev.from || '∅'} → ${ev.to || '∅'}` }) : null, ' ',
      el('span', { class: 'msg', text: ev.message || '' })));
    $('.events', c).replaceChildren(...(items.length ? items : [el('li', { class: 'muted none', text: 'No events yet.' })]));
  }

  // --- actions ---

  async function act(name, action) {
    const c = cards.get(name);
    const form = $('.action-form', c);
    const out = $('.action-status', c);
    const field = (n) => form.elements.namedItem(n);
    out.className = 'action-status';
    if (!token()) {
      out.textContent = 'An operator token is needed: enter it above.';
      out.classList.add('err');
      return;
    }
    let body = {};
    if (action !== 'release') {
      body = { to: field('to').value, reason: field('reason').value.trim(), force: field('force').checked };
      const f = field('for').value.trim();
      if (f) body.for = f;
    }
    out.textContent = action + '…';
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    try {
      const s = await api(`api/v1/services/${encodeURIComponent(name)}/${action}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      onStreamService(s);
      out.textContent = action === 'release' ? 'released' : `${action} to ${body.to} started`;
      out.classList.add('ok');
    } catch (e) {
      out.textContent = `${action} failed: ${e.message}`;
      out.classList.add('err');
    } finally {
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  }

  // --- start ---

  function start() {
    $('#token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('#token').value.trim();
      if (!t) return;
      setToken(t);
      connect();
      refresh();
    });
    $('#token-clear').addEventListener('click', () => {
      setToken('');
      connect();
      refresh();
    });
    $('#token-status').textContent = token() ? 'token set' : 'no token';
    refresh();
    connect();
  }

  start();
})();
