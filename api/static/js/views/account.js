// People: the first-run setup, the sign-in page, your account (password, API tokens) and, for
// admins, the users and everyone's tokens. Passwords and tokens are never shown back, except a
// new token once.

import { del, get, patch, post, put, session } from '../api.js';
import { field, h } from '../dom.js';
import { notify } from '../notify.js';
import { when } from '../format.js';

function credentialsForm(label, submitText, onSubmit, autocomplete) {
  const username = h('input', { type: 'text', name: 'username', required: true, autocomplete: 'username', maxlength: 64 });
  const password = h('input', { type: 'password', name: 'password', required: true, autocomplete, minlength: autocomplete === 'new-password' ? 10 : null });
  const submit = h('button', { type: 'submit' }, submitText);
  const form = h('form', { class: 'stack', 'aria-label': label },
    field('Username', username), field('Password', password,
      autocomplete === 'new-password' ? 'At least 10 characters.' : null),
    h('div', { class: 'buttons' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try { await onSubmit(username.value.trim(), password.value); } catch { /* announced */ }
    submit.disabled = false;
  });
  return form;
}

function goBack() {
  const after = sessionStorage.getItem('aula.after');
  sessionStorage.removeItem('aula.after');
  location.replace(after && !after.startsWith('#/signin') && !after.startsWith('#/setup') ? after : '#/home');
  location.reload(); // the header and navigation follow the new role
}

export function signInView(ctx) {
  ctx.root.append(h('h1', {}, 'Sign in to Aula'),
    credentialsForm('Sign in', 'Sign in', async (username, password) => {
      await post('/api/session', { username, password }, { signal: ctx.signal });
      goBack();
    }, 'current-password'));
}

export function setupView(ctx) {
  if (!session.setupRequired) {
    ctx.root.append(h('h1', {}, 'Setup is done'), h('p', {}, 'An account exists. ', h('a', { href: '#/signin' }, 'Sign in')));
    return;
  }
  ctx.root.append(h('h1', {}, 'Create the admin account'),
    h('p', { class: 'warning' }, 'Until the first account exists, anyone who can reach this server can read the library. Create the admin account now; from then on everyone signs in.'),
    credentialsForm('Create the admin account', 'Create the admin account', async (username, password) => {
      await post('/api/setup', { username, password }, { signal: ctx.signal });
      await post('/api/session', { username, password }, { signal: ctx.signal });
      notify('Admin account created.');
      goBack();
    }, 'new-password'));
}

function passwordForm(signal, after) {
  const current = h('input', { type: 'password', name: 'current_password', required: true, autocomplete: 'current-password' });
  const next = h('input', { type: 'password', name: 'new_password', required: true, minlength: 10, autocomplete: 'new-password' });
  const form = h('form', { class: 'stack', 'aria-label': 'Change password' },
    field('Current password', current), field('New password', next, 'At least 10 characters. Your other sessions and your API tokens end.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Change password')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await put('/api/users/me/password', { current_password: current.value, new_password: next.value }, { signal });
      current.value = ''; next.value = '';
      notify('Password changed; your other sessions and tokens have ended.');
      after().catch(() => {});
    } catch { /* announced */ }
  });
  return form;
}

function tokenRows(tbody, url, signal, showOwner) {
  const load = async () => {
    const page = await get(url, { signal });
    if (!page.items.length) {
      tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No API tokens.')));
      return;
    }
    tbody.replaceChildren(...page.items.map((t) => h('tr', { 'data-token-id': String(t.id) },
      h('td', { 'data-label': 'Name' }, t.name),
      showOwner ? h('td', { 'data-label': 'User' }, t.username) : null,
      h('td', { 'data-label': 'Created' }, when(t.created_at)),
      h('td', { 'data-label': 'Expires' }, t.expires_at ? when(t.expires_at) : 'never'),
      h('td', { 'data-label': 'Last used' }, t.last_used_at ? when(t.last_used_at) : 'never'),
      h('td', { 'data-label': 'Actions', class: 'actions' }, h('button', { type: 'button', 'aria-label': `Revoke the token ${t.name}`,
        onclick: async () => {
          try { await del(`/api/tokens/${t.id}`, { signal }); notify(`Token ${t.name} revoked.`); } catch { /* announced */ }
          load().catch(() => {});
        } }, 'Revoke')))));
  };
  return load;
}

function tokensTable(caption, showOwner, tbody) {
  const headings = ['Name', showOwner ? 'User' : null, 'Created', 'Expires', 'Last used', 'Actions'].filter(Boolean);
  return h('table', { class: 'rows' }, h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))), tbody);
}

function newTokenForm(signal, reload) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const days = h('input', { type: 'number', name: 'expires_in_days', min: 1, max: 3650, inputmode: 'numeric' });
  const shown = h('div', { class: 'new-token', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', 'aria-label': 'New API token' },
    field('Token name', name), field('Expires in days', days, 'Empty: never.'),
    h('button', { type: 'submit' }, 'Create token'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const made = await post('/api/tokens', { name: name.value.trim(), expires_in_days: days.value ? Number(days.value) : null }, { signal });
      name.value = ''; days.value = '';
      shown.replaceChildren(h('p', {}, 'Copy this token now; it is not shown again. Send it as ', h('code', {}, 'Authorization: Bearer <token>'), '.'),
        h('code', { class: 'secret' }, made.token));
      reload().catch(() => {});
    } catch { /* announced */ }
  });
  return h('div', {}, form, shown);
}

export async function accountView(ctx) {
  const who = session.user;
  const tbody = h('tbody');
  const load = tokenRows(tbody, '/api/tokens', ctx.signal, false);
  ctx.root.append(h('h1', {}, 'Your account'),
    h('p', {}, who ? `Signed in as ${who.username} (${who.role}).` : 'Not signed in as a user.'),
    h('section', { 'aria-labelledby': 'pw-h' }, h('h2', { id: 'pw-h' }, 'Password'), passwordForm(ctx.signal, load)),
    h('section', { 'aria-labelledby': 'tk-h' }, h('h2', { id: 'tk-h' }, 'API tokens'),
      h('p', {}, 'For scripts: a token acts as you, with your role.'),
      newTokenForm(ctx.signal, load), tokensTable('Your API tokens', false, tbody)));
  await load();
}

function userRow(user, signal, reload) {
  const me = session.user && session.user.id === user.id;
  const act = (label, run) => h('button', { type: 'button', 'aria-label': `${label} ${user.username}`, disabled: me,
    onclick: async () => { try { await run(); } catch { /* announced */ } reload().catch(() => {}); } }, label);
  return h('tr', { 'data-user-id': String(user.id) },
    h('td', { 'data-label': 'User' }, user.username),
    h('td', { 'data-label': 'Role', class: 'role' }, user.role),
    h('td', { 'data-label': 'State', class: 'state' }, user.disabled ? 'disabled' : 'active'),
    h('td', { 'data-label': 'Last sign-in' }, user.last_login_at ? when(user.last_login_at) : 'never'),
    h('td', { 'data-label': 'Actions', class: 'actions' },
      act(user.disabled ? 'Enable' : 'Disable', () => patch(`/api/users/${user.id}`, { disabled: !user.disabled }, { signal })),
      act(user.role === 'admin' ? 'Make viewer' : 'Make admin', () => patch(`/api/users/${user.id}`, { role: user.role === 'admin' ? 'viewer' : 'admin' }, { signal })),
      act('Delete', async () => { await del(`/api/users/${user.id}`, { signal }); notify(`${user.username} deleted.`); })));
}

function newUserForm(signal, reload) {
  const role = h('select', { name: 'role' }, h('option', { value: 'viewer' }, 'Viewer (watches)'), h('option', { value: 'admin' }, 'Admin (changes everything)'));
  const form = credentialsForm('Add a user', 'Add user', async (username, password) => {
    await post('/api/users', { username, password, role: role.value }, { signal });
    notify(`${username} added.`);
    form.reset();
    reload().catch(() => {});
  }, 'new-password');
  form.querySelector('.buttons').before(field('Role', role));
  return form;
}

export async function usersView(ctx) {
  const users = h('tbody');
  const tokens = h('tbody');
  const loadUsers = async () => {
    const page = await get('/api/users?limit=200', { signal: ctx.signal });
    users.replaceChildren(...page.items.map((u) => userRow(u, ctx.signal, loadUsers)));
  };
  const loadTokens = tokenRows(tokens, '/api/tokens?all=true&limit=200', ctx.signal, true);
  ctx.root.append(h('h1', {}, 'Users'),
    h('table', { class: 'rows' }, h('caption', { class: 'visually-hidden' }, 'Users'),
      h('thead', {}, h('tr', {}, ['User', 'Role', 'State', 'Last sign-in', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))), users),
    h('section', { 'aria-labelledby': 'nu-h' }, h('h2', { id: 'nu-h' }, 'Add a user'), newUserForm(ctx.signal, loadUsers)),
    h('section', { 'aria-labelledby': 'at-h' }, h('h2', { id: 'at-h' }, 'Everyone\'s API tokens'), tokensTable('All API tokens', true, tokens)));
  await Promise.all([loadUsers(), loadTokens()]);
}
