// The entry point: decides between the sign-in form and the app (GET /session), routes on the
// URL fragment (#/c/<id>), and wires the modules together.
import { ApiError, NetworkError, api, describe, on, send } from './api.js';
import { $ } from './dom.js';
import { lost, onResume } from './connection.js';
import * as chat from './chat.js';
import * as conversations from './conversations.js';
import * as documents from './documents.js';

const narrow = window.matchMedia('(max-width: 767px)');

function ready(view) {
  document.body.dataset.view = view;
  // What the browser tests read as "time to interactive": the first moment a form can be used.
  if (!performance.getEntriesByName('interactive').length) performance.mark('interactive');
}

function showSignIn(message = '') {
  chat.stop();
  $('app-view').hidden = true;
  $('signin-view').hidden = false;
  $('signin-error').textContent = message;
  $('token').disabled = false;
  $('signin-button').disabled = false;
  $('token').focus();
  ready('signin');
}

function openMenu(open) {
  document.body.classList.toggle('menu-open', open);
  $('menu-button').setAttribute('aria-expanded', String(open));
  if (open) ($('conversation-list').querySelector('a') || $('new-conversation')).focus();
}

function reportError(e) {
  $('composer-status').textContent = describe(e);
  if (e instanceof NetworkError) lost();
}

function idFromHash() {
  const m = location.hash.match(/^#\/c\/([0-9a-fA-F-]{36})$/);
  return m ? m[1].toLowerCase() : null;
}

async function route() {
  const id = idFromHash();
  if (narrow.matches) openMenu(false);
  if (id && id === chat.conversationId()) return conversations.select(id);
  if (chat.isStreaming()) chat.stop();
  if (!id) {
    chat.show(null);
    conversations.select(null);
    return;
  }
  try {
    const conversation = await conversations.load(id);
    chat.show(conversation);
    conversations.select(id, conversation.title);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      history.replaceState(null, '', '#/');
      chat.show(null);
      conversations.select(null);
      $('composer-status').textContent = 'That conversation no longer exists.';
    } else reportError(e);
  }
}

async function showApp() {
  $('signin-view').hidden = true;
  $('app-view').hidden = false;
  $('token').value = '';
  chat.enable(true);
  $('message').focus();
  ready('app');
  const health = await api('GET', '/health').catch(() => null);
  documents.enable(Boolean(health && health.rag_enabled));
  await Promise.all([conversations.refresh().catch(reportError), route()]);
}

async function signIn(body) {
  try {
    await send('POST', '/session', { body, quiet401: true });
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return false;
    throw e;
  }
}

async function start() {
  // A one-time sign-in link (`opsctl open`): redeem the code, and take it out of the address.
  const link = location.hash.match(/^#signin=(.+)$/);
  if (link) {
    history.replaceState(null, '', location.pathname + location.search);
    try {
      if (await signIn({ code: decodeURIComponent(link[1]) })) return showApp();
      return showSignIn('This sign-in link was already used or has expired: paste the token instead.');
    } catch (e) {
      return showSignIn(describe(e));
    }
  }
  try {
    await send('GET', '/session', { quiet401: true });
    return showApp();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showSignIn();
    if (e instanceof NetworkError) {
      await lost();
      return start();
    }
    return showSignIn(describe(e));
  }
}

function wire() {
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (!token) return;
    $('signin-button').disabled = true;
    try {
      if (await signIn({ token })) await showApp();
      else showSignIn('That token was not accepted.');
    } catch (err) {
      showSignIn(describe(err));
    }
  });
  $('signout-button').addEventListener('click', async () => {
    await api('DELETE', '/session').catch(() => {});
    chat.show(null);
    $('conversation-list').replaceChildren();
    showSignIn('Signed out.');
  });
  $('menu-button').addEventListener('click', () => openMenu(!document.body.classList.contains('menu-open')));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('menu-open') && !chat.isStreaming()) {
      openMenu(false);
      $('menu-button').focus();
    }
  });
  $('new-conversation').addEventListener('click', () => {
    if (location.hash === '#/' || location.hash === '') route();
    else location.hash = '#/';
    $('message').focus();
  });
  // A sign-in link opened in a tab already showing the app changes only the fragment.
  window.addEventListener('hashchange', () => (location.hash.startsWith('#signin=') ? start() : route()));

  on('unauthorized', () => showSignIn('The session has ended: sign in again.'));
  // Any request that finds the server gone starts the banner and its retries.
  on('offline', () => lost());
  onResume(() => {
    if ($('app-view').hidden) return;
    conversations.refresh().catch(reportError);
    const id = chat.conversationId();
    // Shows what the server kept of an interrupted reply (stored as stopped).
    if (id && !chat.isStreaming()) conversations.load(id).then(chat.show, reportError);
  });

  chat.init({
    started(id, message) {
      history.replaceState(null, '', `#/c/${id}`);
      // The server titles a conversation with its first message, cut to 60 characters.
      conversations.select(id, message.split('\n')[0].slice(0, 60));
    },
    finished() {
      conversations
        .refresh()
        .then(() => conversations.select(chat.conversationId()))
        .catch(reportError);
    },
  });
  conversations.init({
    onError: reportError,
    onDeleted() {
      chat.show(null);
      conversations.select(null);
      history.replaceState(null, '', '#/');
      $('composer-status').textContent = 'Conversation deleted.';
    },
  });
  documents.init();
}

wire();
start();
