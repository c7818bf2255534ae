// The messages of the open conversation and the composer: sending, streaming, stop and retry.
import { ApiError, NetworkError, describe, send } from './api.js';
import { events } from './sse.js';
import { $, formatTime, h, uuid } from './dom.js';
import * as dialogs from './dialogs.js';
import { lost } from './connection.js';

const state = {
  conversationId: null,
  // The AbortController of the reply being streamed, or null.
  streaming: null,
  hooks: { started() {}, finished() {} },
};

export const conversationId = () => state.conversationId;
export const isStreaming = () => state.streaming !== null;

function status(text) {
  $('composer-status').textContent = text;
}

let countdown = null;
function showError(error) {
  clearInterval(countdown);
  if (error instanceof ApiError && error.retryAfter) {
    // Counts down, so the person sees when a retry will be accepted.
    let left = error.retryAfter;
    const tick = () => {
      status(describe(Object.assign(error, { retryAfter: left })));
      if (left-- <= 0) {
        clearInterval(countdown);
        status('You can send again now.');
      }
    };
    tick();
    countdown = setInterval(tick, 1000);
  } else {
    status(describe(error));
  }
  if (error instanceof NetworkError) lost();
}

function copyButton(label, text) {
  const button = h('button', { type: 'button', class: 'small', text: label });
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(typeof text === 'function' ? text() : text);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Copy failed';
    }
    setTimeout(() => (button.textContent = label), 1500);
  });
  return button;
}

// The server's sanitised HTML goes in whole; then code blocks get their copy buttons and links
// open in a new tab (the server already gave them rel="noopener noreferrer").
function setHtml(content, html) {
  content.innerHTML = html;
  content.classList.add('rendered');
  for (const pre of content.querySelectorAll('pre')) {
    const wrap = h('div', { class: 'code-block' });
    pre.replaceWith(wrap);
    wrap.append(copyButton('Copy code', () => pre.textContent), pre);
  }
  for (const a of content.querySelectorAll('a[href]')) a.target = '_blank';
}

// One message on screen, and the handle a streamed reply uses to grow and to finish.
function messageView(m) {
  const assistant = m.role === 'assistant';
  const content = h('div', { class: 'content' });
  const text = document.createTextNode('');
  let raw = m.content || '';
  if (assistant && m.html) setHtml(content, m.html);
  else {
    text.data = raw;
    content.append(text);
  }
  const mark = h('span', { class: 'mark' });
  const citations = h('ol', { class: 'citations', 'aria-label': 'Sources' });
  const actions = h('div', { class: 'message-actions' }, copyButton('Copy', () => raw));
  const retry = h('button', { type: 'button', class: 'small retry', text: 'Retry' });
  const time = h('time', { text: m.time ? formatTime(m.time) : '' });
  const article = h(
    'article',
    { class: `message ${m.role}`, 'data-message-id': m.message_id },
    h('div', { class: 'meta' }, h('span', { class: 'role', text: assistant ? 'Assistant' : 'You' }), time, mark),
    content,
    citations,
    actions,
  );
  retry.addEventListener('click', () => retryReply(article));

  const view = {
    article,
    append(delta) {
      raw += delta;
      text.appendData(delta);
    },
    setStatus(s) {
      article.dataset.status = s || '';
      mark.textContent = s === 'stopped' ? 'Stopped' : s === 'failed' ? 'Failed' : s === 'streaming' ? 'Writing…' : '';
      if ((s === 'stopped' || s === 'failed') && !retry.isConnected) actions.append(retry);
      if (s !== 'stopped' && s !== 'failed') retry.remove();
    },
    setCitations(list) {
      citations.replaceChildren(
        ...(list || []).map((c, i) =>
          h(
            'li',
            {},
            h('button', {
              type: 'button',
              class: 'citation',
              text: `[${i + 1}]`,
              'aria-label': `Source ${i + 1}: ${c.source}`,
              title: c.source,
              onclick: () => dialogs.citation(i + 1, c),
            }),
          ),
        ),
      );
    },
    finish(html) {
      if (html) setHtml(content, html);
      time.textContent = formatTime(new Date().toISOString());
    },
  };
  view.setStatus(m.status);
  view.setCitations(m.citations);
  return view;
}

function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function add(m) {
  const box = $('messages');
  const follow = nearBottom(box);
  const view = messageView(m);
  box.append(view.article);
  if (follow) box.scrollTop = box.scrollHeight;
  return view;
}

export function show(conversation) {
  state.conversationId = conversation ? conversation.conversation_id : null;
  $('messages').replaceChildren();
  status('');
  for (const m of conversation ? conversation.messages : []) add(m);
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
}

function setBusy(busy) {
  $('send-button').hidden = busy;
  $('stop-button').hidden = !busy;
  if (busy) $('stop-button').focus({ preventScroll: true });
  else if (document.activeElement === $('stop-button') || document.activeElement === document.body) $('message').focus();
}

export function stop() {
  if (state.streaming) state.streaming.abort();
}

// Sends `text` and streams the reply. The composer is emptied only once the server has taken
// the message (stored before the model is called), so an error before that loses nothing.
async function submit(text, { fromComposer }) {
  if (state.streaming || !text.trim()) return;
  clearInterval(countdown);
  status('');
  const controller = new AbortController();
  state.streaming = controller;
  setBusy(true);
  const body = { message: text };
  if (state.conversationId) body.conversation_id = state.conversationId;
  let res;
  try {
    res = await send('POST', '/chat', {
      body,
      headers: { Accept: 'text/event-stream', 'Idempotency-Key': uuid() },
      signal: controller.signal,
    });
  } catch (e) {
    state.streaming = null;
    setBusy(false);
    if (e.name !== 'AbortError') showError(e);
    return;
  }
  if (fromComposer) $('message').value = '';
  add({ role: 'user', content: text, time: new Date().toISOString() });
  const reply = add({ role: 'assistant', content: '', status: 'streaming' });
  let ended = false;
  try {
    for await (const { event, data } of events(res)) {
      if (event === 'start') {
        const started = !state.conversationId;
        state.conversationId = data.conversation_id;
        if (started) state.hooks.started(data.conversation_id, text);
      } else if (event === 'citations') {
        reply.setCitations(data.citations);
      } else if (event === 'delta') {
        const box = $('messages');
        const follow = nearBottom(box);
        reply.append(data.text);
        if (follow) box.scrollTop = box.scrollHeight;
      } else if (event === 'done') {
        ended = true;
        reply.article.dataset.messageId = data.message_id;
        reply.finish(data.html);
        reply.setStatus('complete');
      } else if (event === 'error') {
        ended = true;
        reply.setStatus('failed');
        showError(new ApiError(500, data.error.code, data.error.message, data.error.request_id, null));
      }
    }
    if (!ended) {
      // The stream ended without its last event: the connection was cut.
      reply.setStatus('failed');
      showError(new NetworkError(null));
    }
  } catch (e) {
    if (e.name === 'AbortError') {
      // The server keeps what was written, marked stopped, once it sees the caller go away.
      reply.setStatus('stopped');
      status('Stopped.');
    } else {
      reply.setStatus('failed');
      showError(new NetworkError(e));
    }
  } finally {
    state.streaming = null;
    setBusy(false);
    state.hooks.finished();
  }
}

// A stopped or failed reply is retried by asking its question again in the same conversation.
function retryReply(article) {
  let node = article.previousElementSibling;
  while (node && !node.classList.contains('user')) node = node.previousElementSibling;
  const question = node && node.querySelector('.content').textContent;
  if (question) submit(question, { fromComposer: false });
}

export function init(hooks) {
  state.hooks = hooks;
  const input = $('message');
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    submit(input.value, { fromComposer: true });
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit(input.value, { fromComposer: true });
    }
  });
  $('stop-button').addEventListener('click', stop);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.streaming && !document.querySelector('dialog[open]')) {
      e.preventDefault();
      stop();
    }
  });
}

export function enable(on) {
  $('message').disabled = !on;
  $('send-button').disabled = !on;
}
