"""sObject describe results in Salesforce's shape, built from the generator's schema."""

from __future__ import annotations

from functools import cache

from ..datagen.schema import OBJECTS, FieldDef, ObjectDef

_SOAP = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "currency": "xsd:double",
         "double": "xsd:double", "percent": "xsd:double", "int": "xsd:int", "date": "xsd:date",
         "datetime": "xsd:dateTime"}
_SYSTEM = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}


def _field(f: FieldDef) -> dict:
    long_text = f.type == "textarea" and f.length > 255
    is_text = f.type not in _SOAP
    system = f.name in _SYSTEM
    return {
        "name": f.name, "label": f.display_label, "type": f.type, "soapType": _SOAP.get(f.type, "xsd:string"),
        "length": f.length if is_text or f.type in ("id", "reference") else 0,
        "byteLength": f.length * 3 if is_text or f.type in ("id", "reference") else 0,
        "precision": f.precision, "scale": f.scale, "digits": f.precision if f.type == "int" else 0,
        "nillable": f.nillable, "custom": f.custom, "calculated": False, "autoNumber": False,
        "createable": not system, "updateable": not system, "defaultedOnCreate": system or f.type == "boolean",
        "filterable": not long_text, "sortable": not long_text, "groupable": not long_text and f.type != "datetime",
        "unique": False, "externalId": False, "idLookup": f.name == "Id", "nameField": f.name == "Name",
        "htmlFormatted": False, "caseSensitive": False, "restrictedPicklist": False,
        "dependentPicklist": False, "controllerName": None, "defaultValue": False if f.type == "boolean" else None,
        "inlineHelpText": None, "relationshipName": f.name[:-2] if f.type == "reference" and f.name.endswith("Id") else None,
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in f.picklist
        ],
    }


@cache
def describe(obj: ObjectDef, version: str) -> dict:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "name": obj.name, "label": obj.name, "labelPlural": obj.label_plural, "keyPrefix": obj.key_prefix,
        "custom": False, "queryable": True, "retrieveable": True, "replicateable": True, "searchable": True,
        "createable": True, "updateable": True, "deletable": True, "undeletable": True, "layoutable": True,
        "fields": [_field(f) for f in obj.fields], "childRelationships": [], "recordTypeInfos": [],
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def describe_global(version: str) -> dict:
    return {
        "encoding": "UTF-8", "maxBatchSize": 200,
        "sobjects": [
            {"name": o.name, "label": o.name, "labelPlural": o.label_plural, "keyPrefix": o.key_prefix,
             "custom": False, "queryable": True, "replicateable": True, "retrieveable": True,
             "urls": {"sobject": f"/services/data/v{version}/sobjects/{o.name}",
                      "describe": f"/services/data/v{version}/sobjects/{o.name}/describe"}}
            for o in OBJECTS.values()
        ],
    }
