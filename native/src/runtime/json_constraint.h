// JSON mode: a byte-level pushdown automaton that accepts exactly the prefixes of one JSON object (RFC 8259), so
// sampling can be restricted to tokens that keep the output a valid prefix. The object starts at the first byte and
// nothing follows it, and a whitespace run is at most MAX_WS_RUN bytes: a model cannot spend its tokens on blanks.
// With a schema (JsonSchema, compiled from the request's json_schema by the daemon) it accepts only the prefixes of
// objects that match it: properties in declared order, the optional ones skippable, each value of its type.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace magnet {

struct JsonSchema {
  enum Kind : uint8_t { ANY, OBJECT, ARRAY, STRING, NUMBER, INTEGER, BOOLEAN, NUL, ENUM };
  struct Prop {
    std::string key;
    int node;
    bool required;
  };
  struct Node {
    Kind kind = ANY;
    std::vector<Prop> props;          // OBJECT, in declared order
    int items = -1;                   // ARRAY: the element node (-1: any)
    std::vector<std::string> values;  // ENUM: the allowed strings (raw bytes, no escapes)
  };
  std::vector<Node> nodes;  // nodes[0] is the root, an OBJECT
  // Parses the daemon's compact form: one node per line, "object N key(hex) node req ...", "array NODE", "string",
  // "number", "integer", "boolean", "null", "any", "enum N value(hex) ..."; throws std::invalid_argument.
  static std::shared_ptr<const JsonSchema> parse(const std::string& text);
};

class JsonConstraint {
 public:
  static constexpr int MAX_DEPTH = 64;   // deeper nesting is refused (the automaton's stack is fixed)
  static constexpr int MAX_WS_RUN = 32;  // whitespace bytes in a row between tokens of the document
  JsonConstraint() = default;
  explicit JsonConstraint(std::shared_ptr<const JsonSchema> schema) : schema_(std::move(schema)) {}
  // Feeds one byte; false (and the state unchanged in meaning: do not use it further) when it breaks the prefix.
  bool feed(uint8_t c);
  // Feeds every byte of `s` into a copy; true when all are accepted.
  bool accepts(const std::string& s) const;
  // The top-level object is closed: only the end may follow.
  bool complete() const { return state_ == DONE; }

 private:
  enum State : uint8_t {
    START,       // before the top-level object: '{'
    OBJ_FIRST,   // after '{': whitespace, '"' or '}'
    OBJ_KEY,     // after ',' in an object: whitespace or '"'
    KEY,         // inside a key string
    COLON,       // after a key: whitespace or ':'
    VALUE,       // a value must start (whitespace allowed)
    ARR_FIRST,   // after '[': whitespace, a value or ']'
    AFTER,       // after a value inside a container: whitespace, ',' or the closer
    STRING,      // inside a string value
    LITERAL,     // inside true / false / null
    NUMBER,      // inside a number (num_ says where)
    DONE,
  };
  bool value_start(uint8_t c);
  bool end_value(uint8_t c);  // a value ended just before c: c goes to AFTER (or DONE)
  bool close(uint8_t c);
  bool blank(uint8_t c);  // a whitespace byte where whitespace may appear: counted against MAX_WS_RUN
  // Schema checks (always true without a schema).
  const JsonSchema::Node* node(int i) const { return schema_ && i >= 0 ? &schema_->nodes[i] : nullptr; }
  bool key_prefix_ok() const;     // key_ is a prefix of a property that may come next
  bool key_done();                // key_ names such a property: the value's node is set
  bool may_close_object() const;  // no required property is left
  bool may_continue_object() const;
  bool enum_prefix_ok(bool closing) const;

  State state_ = START;
  State string_return_ = AFTER;  // where a string goes when it closes (KEY -> COLON, STRING -> AFTER)
  uint8_t esc_ = 0;              // 0: none; 1: after '\'; 2..5: hex digits of \uXXXX still to read
  const char* lit_ = nullptr;    // the rest of the literal being read
  uint8_t num_ = 0;              // number sub-state
  bool num_int_ = false;         // the number is an integer (schema): no fraction or exponent
  uint8_t depth_ = 0;
  uint8_t ws_run_ = 0;
  char stack_[MAX_DEPTH] = {};   // '{' or '['
  // With a schema: each open container's node and, for objects, the index of the next property that may come.
  std::shared_ptr<const JsonSchema> schema_;
  int frame_node_[MAX_DEPTH] = {};
  int frame_prop_[MAX_DEPTH] = {};
  int value_node_ = 0;  // the node the next value must match (the root first)
  std::string key_;     // the key being read (schema)
  std::string str_;     // an enum string being read (schema)
  bool in_enum_ = false;
};

}  // namespace magnet
