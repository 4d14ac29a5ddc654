"""A community scheme as SKOS (Turtle or JSON-LD) with rdflib. Pure: a ``SkosData`` record in, text out.

One concept per labelled target (a cluster identity or an item). Per language, the accepted
label with the most net votes is the skos:prefLabel (SKOS allows one per language) and the
others are skos:altLabel; descriptions become skos:definition and cultural-context notes
skos:scopeNote, each in the label's language. Cross-scheme links become exactMatch /
closeMatch / related between concepts.
"""

from __future__ import annotations

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, RDF, SKOS

from tessera.taxonomy.records import Label, SkosData, Target

FORMATS = {"turtle": "text/turtle", "json-ld": "application/ld+json"}
TESSERA = Namespace("https://tessera.invalid/ns#")


def scheme_uri(base: str, slug: str) -> URIRef:
    return URIRef(f"{base.rstrip('/')}/schemes/{slug}")


def concept_uri(base: str, target: Target) -> URIRef:
    ident = target.identity_id
    tail = f"cluster-{ident}" if ident is not None else f"item-{target.item_id}"
    return URIRef(f"{scheme_uri(base, target.scheme)}/concepts/{tail}")


def build_graph(data: SkosData, base: str) -> Graph:
    """``data`` as from ``TaxonomyStore.skos_data``."""
    sc = data.scheme
    g = Graph()
    g.bind("skos", SKOS)
    g.bind("dcterms", DCTERMS)
    g.bind("tessera", TESSERA)
    s_uri = scheme_uri(base, sc.slug)
    g.add((s_uri, RDF.type, SKOS.ConceptScheme))
    g.add((s_uri, DCTERMS.title, Literal(sc.name)))
    if sc.description:
        g.add((s_uri, DCTERMS.description, Literal(sc.description)))
    if sc.community:
        g.add((s_uri, DCTERMS.creator, Literal(sc.community)))
    by_concept: dict[URIRef, list[Label]] = {}
    for lab in data.labels:
        target = Target(scheme=sc.slug, identity_id=lab.identity_id, item_id=lab.item_id)
        by_concept.setdefault(concept_uri(base, target), []).append(lab)
    for c_uri, labels in by_concept.items():
        g.add((c_uri, RDF.type, SKOS.Concept))
        g.add((c_uri, SKOS.inScheme, s_uri))
        g.add((s_uri, SKOS.hasTopConcept, c_uri))
        first = labels[0]
        if first.identity_id is not None:
            g.add((c_uri, TESSERA.clusterIdentity, Literal(first.identity_id)))
        else:
            g.add((c_uri, TESSERA.item, Literal(first.item_id)))
        preferred: set[str] = set()
        for lab in sorted(labels, key=lambda x: (-x.net_votes, x.id)):
            lang = lab.lang
            prop = SKOS.altLabel if lang.lower() in preferred else SKOS.prefLabel
            preferred.add(lang.lower())
            g.add((c_uri, prop, Literal(lab.text, lang=lang)))
            if lab.description:
                g.add((c_uri, SKOS.definition, Literal(lab.description, lang=lang)))
            if lab.cultural_context:
                g.add((c_uri, SKOS.scopeNote, Literal(lab.cultural_context, lang=lang)))
    props = {"exactMatch": SKOS.exactMatch, "closeMatch": SKOS.closeMatch, "related": SKOS.related}
    for lk in data.links:
        a, b = concept_uri(base, lk.from_), concept_uri(base, lk.to)
        # the mapping is stated from this scheme's side, whichever end was linked first
        if lk.to.scheme == sc.slug:
            a, b = b, a
        g.add((a, props[lk.kind], b))
    return g


def serialise(data: SkosData, base: str, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format is one of {', '.join(FORMATS)}")
    g = build_graph(data, base)
    if fmt == "json-ld":
        ctx = {"skos": str(SKOS), "dcterms": str(DCTERMS), "tessera": str(TESSERA)}
        return g.serialize(format="json-ld", context=ctx, indent=2)
    return g.serialize(format="turtle")
