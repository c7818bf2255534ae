// The documents panel (only when /health says RAG is on): the list with indexing status, upload
// by picker or drop with progress, delete, and polling until every document is indexed or failed.
import { ApiError, api, describe } from './api.js';
import { $, formatTime, h } from './dom.js';
import * as dialogs from './dialogs.js';

const TYPES = { '.pdf': 'application/pdf', '.md': 'text/markdown', '.markdown': 'text/markdown', '.txt': 'text/plain', '.text': 'text/plain' };
const state = { limits: null, timer: null };

function status(text) {
  $('documents-status').textContent = text;
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function extension(name) {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot).toLowerCase();
}

function row(d) {
  const label =
    d.status === 'indexed'
      ? `indexed, ${d.chunks ?? 0} ${d.chunks === 1 ? 'chunk' : 'chunks'}`
      : d.status === 'failed'
        ? `failed${d.reason ? `: ${d.reason}` : ''}`
        : 'pending';
  const remove = h('button', { type: 'button', class: 'small danger', text: 'Delete', 'aria-label': `Delete ${d.name}` });
  remove.addEventListener('click', async () => {
    // The confirmation opens above the panel, which stays open under it.
    if (!(await dialogs.confirm(`Delete the document “${d.name}”? Answers will no longer cite it.`))) return;
    try {
      await api('DELETE', `/documents/${encodeURIComponent(d.name)}`);
      await refresh();
    } catch (e) {
      status(describe(e));
    }
  });
  return h(
    'li',
    { class: 'document', 'data-name': d.name, 'data-status': d.status },
    h('span', { class: 'document-name', text: d.name }),
    h('span', { class: `document-status ${d.status}`, text: label }),
    h('span', { class: 'document-meta', text: `${size(d.size)}${d.last_modified ? `, ${formatTime(d.last_modified)}` : ''}` }),
    remove,
  );
}

export async function refresh() {
  const list = $('documents-list');
  list.setAttribute('aria-busy', 'true');
  let page;
  try {
    page = await api('GET', '/documents');
  } finally {
    list.removeAttribute('aria-busy');
  }
  state.limits = page.limits;
  const l = page.limits;
  $('documents-limits').textContent = `${l.extensions.join(', ')} files, up to ${size(l.max_bytes)} each.`;
  $('file-input').accept = l.extensions.join(',');
  $('documents-list').replaceChildren(...page.documents.map(row));
  if (!page.documents.length) $('documents-list').append(h('li', { class: 'empty', text: 'No documents yet.' }));
  // Ingestion runs after the upload: poll while anything is pending.
  clearTimeout(state.timer);
  if (page.documents.some((d) => d.status === 'pending')) state.timer = setTimeout(() => refresh().catch(() => {}), 1500);
  else if ($('documents-status').textContent.endsWith('indexing…')) status('');
}

// Checked here first so a person learns at once; the server checks the same limits again.
function refusal(file) {
  const l = state.limits;
  if (!l) return null;
  if (!l.extensions.includes(extension(file.name))) return `${file.name}: only ${l.extensions.join(', ')} files can be uploaded.`;
  if (file.size > l.max_bytes) return `${file.name} is ${size(file.size)}; the limit is ${size(l.max_bytes)}.`;
  if (file.size === 0) return `${file.name} is empty.`;
  return null;
}

function put(target, file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method || 'PUT', target.url);
    for (const [name, value] of Object.entries(target.headers || {})) xhr.setRequestHeader(name, value);
    // Same origin (the local target) takes the session cookie, so it needs the CSRF header;
    // a presigned S3 URL must get exactly the headers it was signed with.
    if (new URL(target.url, location.href).origin === location.origin) xhr.setRequestHeader('X-Chat-CSRF', '1');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(e.loaded / e.total);
    };
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new ApiError(xhr.status, 'upload_failed', `the upload failed (HTTP ${xhr.status})`)));
    xhr.onerror = () => reject(new ApiError(0, 'upload_failed', 'the upload failed: the connection was lost'));
    xhr.send(file);
  });
}

async function upload(file) {
  const bar = h('progress', { max: '1', value: '0', 'aria-label': `Uploading ${file.name}` });
  const line = h('li', {}, h('span', { text: file.name }), bar);
  $('uploads').append(line);
  try {
    const type = file.type || TYPES[extension(file.name)] || 'application/octet-stream';
    const target = await api('POST', '/documents/uploads', { body: { name: file.name, size: file.size, content_type: type } });
    await put(target, file, (f) => (bar.value = f));
    line.remove();
    status(`${file.name} uploaded; indexing…`);
  } catch (e) {
    line.replaceChildren(h('span', { class: 'error', text: `${file.name}: ${describe(e)}` }));
  }
}

async function uploadAll(files) {
  if (!state.limits) await refresh();
  const ok = [];
  const refused = [];
  for (const file of files) {
    const why = refusal(file);
    if (why) refused.push(why);
    else ok.push(file);
  }
  status(refused.join(' '));
  await Promise.all(ok.map(upload));
  if (ok.length) await refresh().catch((e) => status(describe(e)));
}

export function init() {
  $('documents-button').addEventListener('click', () => {
    $('documents-dialog').showModal();
    refresh().catch((e) => status(describe(e)));
  });
  $('documents-dialog').addEventListener('close', () => clearTimeout(state.timer));
  $('file-input').addEventListener('change', (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    uploadAll(files);
  });
  // A file dropped beside the zone would otherwise replace the page with itself.
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (e) => e.preventDefault());
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    uploadAll([...e.dataTransfer.files]);
  });
}

export function enable(on) {
  $('documents-button').hidden = !on;
}
