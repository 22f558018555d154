// Confeitaria: the only JavaScript of the shop. Pages work without it; it adds two things.
(function () {
  "use strict";
  // 1. A checkout form is sent once: the button is disabled after the first click. (The
  //    form's idempotency key already makes a second submit harmless.)
  document.querySelectorAll("form[data-uma-vez]").forEach(function (f) {
    f.addEventListener("submit", function () {
      var b = f.querySelector("button");
      if (b) { b.disabled = true; b.textContent = "Enviando…"; }
    });
  });

  // 2. An order's page follows the order live over Server-Sent Events.
  var pedido = document.getElementById("pedido");
  if (!pedido || !window.EventSource) { return; }
  var nomes = {
    pendente: "Aguardando confirmação", confirmado: "Confirmado", pago: "Pago",
    enviado: "Saiu para entrega", entregue: "Entregue", cancelado: "Cancelado",
    rejeitado: "Recusado"
  };
  var marcos = {
    criado: "Pedido recebido", confirmado: "Doces separados: pedido confirmado",
    rejeitado: "Pedido recusado", pagamento_solicitado: "Pagamento em processamento",
    pago: "Pagamento aprovado", cancelamento_solicitado: "Cancelamento solicitado",
    cancelado: "Pedido cancelado", acao_abortada: "Uma etapa não pôde ser concluída",
    enviado: "Saiu para entrega", entregue: "Entregue. Bom apetite!"
  };
  var finais = { entregue: 1, cancelado: 1, rejeitado: 1 };
  var lista = document.getElementById("linha-do-tempo");
  var status = document.getElementById("status");
  var aoVivo = document.getElementById("ao-vivo");
  var ultimo = parseInt(pedido.getAttribute("data-seq"), 10) || 0;
  if (finais[pedido.getAttribute("data-status")]) { return; }

  function quando(em) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(em || "");
    return m ? m[3] + "/" + m[2] + "/" + m[1] + " " + m[4] + ":" + m[5] + " UTC" : "";
  }

  var fonte = new EventSource("/pedidos/" + encodeURIComponent(pedido.getAttribute("data-id")) +
    "/eventos?desde=" + ultimo);
  fonte.onopen = function () { if (aoVivo) { aoVivo.hidden = false; } };
  fonte.onerror = function () { if (aoVivo) { aoVivo.hidden = true; } };
  fonte.addEventListener("pedido", function (msg) {
    var ev;
    try { ev = JSON.parse(msg.data); } catch (e) { return; }
    if (!ev || typeof ev.seq !== "number" || ev.seq <= ultimo) { return; }
    ultimo = ev.seq;
    var li = document.createElement("li");
    li.setAttribute("data-seq", String(ev.seq));
    li.setAttribute("data-tipo", String(ev.tipo));
    var texto = document.createElement("span");
    texto.className = "marco-texto";
    texto.textContent = marcos[ev.tipo] || String(ev.tipo);
    var hora = document.createElement("time");
    hora.textContent = quando(ev.em);
    li.appendChild(texto);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(hora);
    li.className = "novo";
    lista.appendChild(li);
    if (nomes[ev.tipo] && status) {
      status.textContent = nomes[ev.tipo];
      status.className = "status status-" + ev.tipo;
      status.setAttribute("data-status", ev.tipo);
      pedido.setAttribute("data-status", ev.tipo);
    }
    if (finais[ev.tipo]) { fonte.close(); if (aoVivo) { aoVivo.hidden = true; } }
  });
})();
