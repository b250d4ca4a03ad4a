// The sign-in page: a link of `heritage login` carries its token in the URL's fragment
// (#token=…), which the browser never sends to a server. Here it is moved into the form,
// removed from the address bar and history, and the form is sent (POST /login).

const form = document.getElementById('login-form');
const input = document.getElementById('login-token');
const status = document.getElementById('login-status');
const fragment = new URLSearchParams(window.location.hash.slice(1));
const token = fragment.get('token');
if (form && input && token) {
  history.replaceState(null, '', window.location.pathname + window.location.search);
  input.value = token;
  if (status) status.textContent = 'Signing in…';
  // Sent once the page has loaded (its style sheet and icon), so that no request is cut off.
  if (document.readyState === 'complete') form.submit();
  else window.addEventListener('load', () => form.submit(), { once: true });
}
