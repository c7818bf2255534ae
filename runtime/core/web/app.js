// The app's entry module; the app itself is built in the modules beside it.
document.getElementById("app").textContent = "Chat";
