/// The API's OpenAPI 3.1 document, served at `/openapi.yaml`. Hand-written; kept true by
/// `OpenAPIDocumentTests` (every path here is a route and every route is here; the document validates
/// with openapi-spec-validator).
public enum OpenAPIDocument {
    public static let yaml = #"""
openapi: 3.1.0
info:
  title: SwiftCap captioning service
  version: 1.0.0
  description: |
    On-device image captioning over HTTP (`swiftcap serve`). Photos are captioned by a fixed set of
    workers fed by a bounded queue: a full queue is answered at once with 503 and Retry-After, a photo
    not captioned within the deadline with 504. Photos are never stored or logged.
    When the server is started with --api-keys, the /v1 routes need `Authorization: Bearer KEY`.
servers:
  - url: http://127.0.0.1:8080
paths:
  /:
    get:
      operationId: webPage
      summary: The web page (choose or drop a photo, see its caption, boxes, concepts and timings).
      responses:
        '200':
          description: A self-contained HTML page.
          content:
            text/html:
              schema:
                type: string
  /openapi.yaml:
    get:
      operationId: openAPIDocument
      summary: This document.
      responses:
        '200':
          description: OpenAPI 3.1 YAML.
          content:
            application/yaml:
              schema:
                type: string
  /healthz:
    get:
      operationId: health
      summary: Liveness (the process answers).
      responses:
        '200':
          description: Alive.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Status'
  /readyz:
    get:
      operationId: readiness
      summary: Readiness (the captioner is loaded).
      responses:
        '200':
          description: Ready to caption.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Status'
        '503':
          $ref: '#/components/responses/Unavailable'
  /metrics:
    get:
      operationId: metrics
      summary: Prometheus metrics (requests by status, latency histograms per stage, queue depth, in-flight, rejections).
      responses:
        '200':
          description: Prometheus text exposition format 0.0.4.
          content:
            text/plain:
              schema:
                type: string
  /v1/models:
    get:
      operationId: listModels
      summary: The loaded captioner (id "default", or the published model given to serve --model, or the --weights folder's name).
      security:
        - {}
        - bearer: []
      responses:
        '200':
          description: The models this server runs.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ModelList'
        '401':
          $ref: '#/components/responses/Error'
  /v1/captions:
    post:
      operationId: createCaptions
      summary: Caption one photo (raw body) or several (multipart/form-data, one part per photo).
      security:
        - {}
        - bearer: []
      parameters:
        - name: decoder
          in: query
          required: false
          description: The decoder to use; only the loaded one is accepted (see GET /v1/models), others are 400.
          schema:
            type: string
        - name: concepts
          in: query
          required: false
          description: Return the detected objects and classifier labels with their scores.
          schema:
            type: boolean
            default: true
        - name: boxes
          in: query
          required: false
          description: Add each detected object's box (pixels of the decoded, EXIF-oriented photo).
          schema:
            type: boolean
            default: false
        - name: beams
          in: query
          required: false
          description: |
            Beam width of the caption decoder (1 = greedy). Applies to published captioners (serve --model / --arch;
            default: serve --beams, 3) and to the default captioner's generative decoder. The default captioner's
            concepts, neighbours and retrieval decoders pick a caption from a datastore and smollm2 decodes
            greedily: with those, beams is answered 400 (never silently ignored). Out of range or not an
            integer: 400 naming the parameter and the range.
          schema:
            type: integer
            minimum: 1
            maximum: 16
        - name: max_tokens
          in: query
          required: false
          description: |
            Most new tokens of the caption (the end token included when one is produced; `tokens` in the answer
            says how many were generated). Applies to published captioners (default: serve --max-tokens, 20), to
            the generative decoder (words it generates; a retrieved caption its rerank picks is returned whole) and
            to smollm2; with the concepts, neighbours and retrieval decoders it is answered 400. Out of range or
            not an integer: 400 naming the parameter and the range.
          schema:
            type: integer
            minimum: 1
            maximum: 128
      requestBody:
        required: true
        content:
          image/jpeg:
            schema:
              type: string
              contentMediaType: image/jpeg
          image/png:
            schema:
              type: string
              contentMediaType: image/png
          multipart/form-data:
            schema:
              type: object
              properties:
                photo:
                  type: array
                  items:
                    type: string
                    contentMediaType: application/octet-stream
      responses:
        '200':
          description: |
            The caption of a raw-body photo (CaptionResult), or of every photo of a multipart request in
            order (CaptionResults); if any photo fails the whole request fails with that photo's error.
          content:
            application/json:
              schema:
                oneOf:
                  - $ref: '#/components/schemas/CaptionResult'
                  - $ref: '#/components/schemas/CaptionResults'
        '400':
          $ref: '#/components/responses/Error'
        '401':
          $ref: '#/components/responses/Error'
        '413':
          $ref: '#/components/responses/Error'
        '415':
          $ref: '#/components/responses/Error'
        '422':
          $ref: '#/components/responses/Error'
        '503':
          $ref: '#/components/responses/Unavailable'
        '504':
          $ref: '#/components/responses/Error'
components:
  securitySchemes:
    bearer:
      type: http
      scheme: bearer
  responses:
    Error:
      description: An error (400 malformed, 401 API key, 404, 405, 413 body or pixel count over the limit, 415 unsupported type, 422 undecodable photo, 504 deadline).
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    Unavailable:
      description: Not ready, shutting down, or the queue is full; retry after the given seconds.
      headers:
        Retry-After:
          description: Seconds to wait before retrying.
          schema:
            type: integer
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
  schemas:
    Status:
      type: object
      required: [status]
      properties:
        status:
          type: string
        message:
          type: string
    Error:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [code, message]
          properties:
            code:
              type: string
              description: Stable code, e.g. bad_request, unauthorized, not_found, method_not_allowed, body_too_large, pixel_limit, unsupported_media_type, undecodable_photo, queue_full, not_ready, timeout.
            message:
              type: string
    ModelList:
      type: object
      required: [models]
      properties:
        models:
          type: array
          items:
            type: object
            required: [id, description, decoder, ready]
            properties:
              id:
                type: string
              description:
                type: string
              decoder:
                type: string
                description: The default captioner's decoder (concepts, neighbours, retrieval, generative, smollm2) or the published architecture (blip, smallcap, clipcap).
              ready:
                type: boolean
    Box:
      type: object
      required: [x0, y0, x1, y1]
      properties:
        x0: {type: number}
        y0: {type: number}
        x1: {type: number}
        y1: {type: number}
    Concept:
      type: object
      required: [name, score, kind]
      properties:
        name:
          type: string
        score:
          type: number
        kind:
          type: string
          enum: [object, label]
        box:
          $ref: '#/components/schemas/Box'
    CaptionResult:
      type: object
      required: [caption, keywords, image, model, timings_ms]
      properties:
        filename:
          type: string
        caption:
          type: string
        tokens:
          type: integer
          description: New tokens generated (published captioners only; at most max_tokens).
        keywords:
          type: array
          description: Concept words of the default captioner; empty for a published captioner.
          items:
            type: string
        concepts:
          type: array
          description: The default captioner's objects and labels (omitted when concepts=false, and always for a published captioner, which has no detector).
          items:
            $ref: '#/components/schemas/Concept'
        image:
          type: object
          required: [width, height]
          properties:
            width: {type: integer}
            height: {type: integer}
        model:
          type: string
        timings_ms:
          type: object
          description: Milliseconds per stage (queue, decode, then detector, classifier, decoder for the default captioner or encoder, decoder for a published one) and in all (total).
          additionalProperties:
            type: number
    CaptionResults:
      type: object
      required: [results, model]
      properties:
        results:
          type: array
          items:
            $ref: '#/components/schemas/CaptionResult'
        model:
          type: string
"""#
}
