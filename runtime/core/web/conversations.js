// The conversation list (newest first, a page at a time) and rename and delete of the open one.
import { api } from './api.js';
import { $, formatTime, h } from './dom.js';
import * as dialogs from './dialogs.js';

const state = { cursor: null, current: null, titles: new Map() };

function item(c) {
  state.titles.set(c.conversation_id, c.title);
  const link = h(
    'a',
    { href: `#/c/${c.conversation_id}`, class: 'conversation' },
    h('span', { class: 'conversation-title', text: c.title || 'Untitled' }),
    h('span', { class: 'conversation-time', text: formatTime(c.updated) }),
  );
  if (c.conversation_id === state.current) link.setAttribute('aria-current', 'page');
  return h('li', { 'data-id': c.conversation_id }, link);
}

export async function refresh() {
  const page = await api('GET', '/conversations?limit=30');
  $('conversation-list').replaceChildren(...page.conversations.map(item));
  state.cursor = page.cursor;
  $('more-conversations').hidden = !page.cursor;
}

async function more() {
  if (!state.cursor) return;
  const page = await api('GET', `/conversations?limit=30&cursor=${encodeURIComponent(state.cursor)}`);
  $('conversation-list').append(...page.conversations.map(item));
  state.cursor = page.cursor;
  $('more-conversations').hidden = !page.cursor;
}

export function select(id, title) {
  state.current = id;
  if (id && title !== undefined) state.titles.set(id, title);
  $('conversation-title').textContent = id ? state.titles.get(id) || 'Untitled' : 'New conversation';
  $('rename-button').disabled = !id;
  $('delete-button').disabled = !id;
  for (const a of $('conversation-list').querySelectorAll('a')) {
    if (a.closest('li').dataset.id === id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// Every message of a conversation, oldest first, following the cursor.
export async function load(id) {
  const first = await api('GET', `/conversations/${id}?limit=100`);
  let cursor = first.cursor;
  while (cursor) {
    const page = await api('GET', `/conversations/${id}?limit=100&cursor=${encodeURIComponent(cursor)}`);
    first.messages.push(...page.messages);
    cursor = page.cursor;
  }
  return first;
}

export function init({ onDeleted, onError }) {
  $('more-conversations').addEventListener('click', () => more().catch(onError));
  $('rename-button').addEventListener('click', async () => {
    const id = state.current;
    if (!id) return;
    const title = await dialogs.rename(state.titles.get(id));
    if (!title) return;
    try {
      const summary = await api('PATCH', `/conversations/${id}`, { body: { title } });
      select(id, summary.title);
      await refresh();
    } catch (e) {
      onError(e);
    }
  });
  $('delete-button').addEventListener('click', async () => {
    const id = state.current;
    if (!id) return;
    const name = state.titles.get(id) || 'this conversation';
    if (!(await dialogs.confirm(`Delete “${name}” and all its messages? This cannot be undone.`))) return;
    try {
      await api('DELETE', `/conversations/${id}`);
      state.titles.delete(id);
      await refresh();
      onDeleted(id);
    } catch (e) {
      onError(e);
    }
  });
}

