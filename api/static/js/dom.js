// Small DOM helpers: elements are built node by node, so no markup is ever parsed from data.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key in el && typeof value !== 'string') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// A <progress> with a text twin for screen readers; `percent` null means "not known yet".
export function progressBar(label) {
  const bar = h('progress', { max: 100, 'aria-label': label });
  const text = h('span', { class: 'progress-text' });
  const wrap = h('span', { class: 'progress' }, bar, text);
  wrap.update = (percent, note = '') => {
    if (percent === null || percent === undefined) {
      bar.removeAttribute('value');
      text.textContent = note;
    } else {
      const value = Math.max(0, Math.min(100, percent));
      bar.value = value;
      text.textContent = `${value.toFixed(value >= 100 ? 0 : 1)}%${note ? ' ' + note : ''}`;
    }
  };
  return wrap;
}

export function field(labelText, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintEl = hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, labelText), control, hintEl);
}
