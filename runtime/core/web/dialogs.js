// Confirmation, rename and citation dialogs: native <dialog>, so focus is trapped and Esc closes.
import { $ } from './dom.js';

// Cancel is a plain button, not a submit one: Enter in a field submits with the form's first
// submit button, which must be the action, not Cancel.
for (const button of document.querySelectorAll('dialog button.cancel')) {
  button.addEventListener('click', () => button.closest('dialog').close('cancel'));
}

function result(dialog) {
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true });
  });
}

export async function confirm(text, action = 'Delete') {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  dialog.returnValue = 'cancel';
  dialog.showModal();
  return (await result(dialog)) === 'ok';
}

export async function rename(current) {
  const dialog = $('rename-dialog');
  const input = $('rename-input');
  input.value = current || '';
  dialog.returnValue = 'cancel';
  dialog.showModal();
  input.select();
  const ok = (await result(dialog)) === 'ok';
  const title = input.value.trim();
  return ok && title ? title : null;
}

export function citation(number, cite) {
  const dialog = $('citation-dialog');
  $('citation-source').textContent = `[${number}] ${cite.source}${Number.isInteger(cite.chunk) ? `, part ${cite.chunk + 1}` : ''}`;
  $('citation-passage').textContent = cite.passage || '(The passage is not available.)';
  dialog.showModal();
}
