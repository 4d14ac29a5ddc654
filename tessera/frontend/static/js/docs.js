// The API docs page (/docs): Swagger UI from this server's own files, reading this server's OpenAPI document.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
