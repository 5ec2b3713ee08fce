#include "json_constraint.h"

#include <sstream>
#include <stdexcept>

namespace magnet {

namespace {

bool ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool hex(uint8_t c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Number sub-states: where in "-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?" we are. A number ends at the first
// byte that cannot continue it (ZERO, INT, FRAC and EXP may end; the others need more).
enum Num : uint8_t { MINUS, ZERO, INT, DOT, FRAC, E, E_SIGN, EXP };

std::string unhex(const std::string& h) {
  if (h.size() % 2) throw std::invalid_argument("schema: odd hex string");
  std::string out;
  for (size_t i = 0; i < h.size(); i += 2) out.push_back((char)std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

}  // namespace

std::shared_ptr<const JsonSchema> JsonSchema::parse(const std::string& text) {
  auto s = std::make_shared<JsonSchema>();
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    Node n;
    if (kind == "object") {
      n.kind = OBJECT;
      int count = 0;
      in >> count;
      for (int i = 0; i < count; i++) {
        std::string key;
        Prop p{};
        int req = 0;
        if (!(in >> key >> p.node >> req)) throw std::invalid_argument("schema: short object line");
        p.key = unhex(key == "-" ? "" : key);
        p.required = req != 0;
        n.props.push_back(p);
      }
    } else if (kind == "array") {
      n.kind = ARRAY;
      if (!(in >> n.items)) throw std::invalid_argument("schema: array without items");
    } else if (kind == "enum") {
      n.kind = ENUM;
      int count = 0;
      in >> count;
      for (int i = 0; i < count; i++) {
        std::string v;
        if (!(in >> v)) throw std::invalid_argument("schema: short enum line");
        n.values.push_back(unhex(v == "-" ? "" : v));
      }
    } else if (kind == "string") n.kind = STRING;
    else if (kind == "number") n.kind = NUMBER;
    else if (kind == "integer") n.kind = INTEGER;
    else if (kind == "boolean") n.kind = BOOLEAN;
    else if (kind == "null") n.kind = NUL;
    else if (kind == "any") n.kind = ANY;
    else throw std::invalid_argument("schema: unknown node kind '" + kind + "'");
    s->nodes.push_back(std::move(n));
  }
  if (s->nodes.empty() || s->nodes[0].kind != OBJECT) throw std::invalid_argument("schema: the root must be an object");
  const int count = (int)s->nodes.size();
  for (const Node& n : s->nodes) {
    for (const Prop& p : n.props)
      if (p.node < 0 || p.node >= count) throw std::invalid_argument("schema: property node out of range");
    if (n.kind == ARRAY && n.items >= count) throw std::invalid_argument("schema: items node out of range");
  }
  return s;
}

bool JsonConstraint::accepts(const std::string& s) const {
  JsonConstraint c = *this;
  for (unsigned char b : s)
    if (!c.feed(b)) return false;
  return true;
}

bool JsonConstraint::blank(uint8_t c) {
  if (!ws(c)) return false;
  return ++ws_run_ <= MAX_WS_RUN;
}

// The properties that may come next in the innermost object: from the next one up to the first required one.
bool JsonConstraint::key_prefix_ok() const {
  const JsonSchema::Node* n = node(frame_node_[depth_ - 1]);
  if (!n) return true;
  for (size_t j = frame_prop_[depth_ - 1]; j < n->props.size(); j++) {
    if (n->props[j].key.compare(0, key_.size(), key_) == 0) return true;
    if (n->props[j].required) break;
  }
  return false;
}

bool JsonConstraint::key_done() {
  const JsonSchema::Node* n = node(frame_node_[depth_ - 1]);
  if (!n) {
    value_node_ = -1;
    return true;
  }
  for (size_t j = frame_prop_[depth_ - 1]; j < n->props.size(); j++) {
    if (n->props[j].key == key_) {
      frame_prop_[depth_ - 1] = (int)j + 1;
      value_node_ = n->props[j].node;
      return true;
    }
    if (n->props[j].required) break;
  }
  return false;
}

bool JsonConstraint::may_close_object() const {
  const JsonSchema::Node* n = node(frame_node_[depth_ - 1]);
  if (!n) return true;
  for (size_t j = frame_prop_[depth_ - 1]; j < n->props.size(); j++)
    if (n->props[j].required) return false;
  return true;
}

bool JsonConstraint::may_continue_object() const {
  const JsonSchema::Node* n = node(frame_node_[depth_ - 1]);
  return !n || frame_prop_[depth_ - 1] < (int)n->props.size();
}

bool JsonConstraint::enum_prefix_ok(bool closing) const {
  const JsonSchema::Node* n = node(value_node_);
  for (const std::string& v : n->values)
    if (closing ? v == str_ : v.compare(0, str_.size(), str_) == 0) return true;
  return false;
}

bool JsonConstraint::close(uint8_t c) {
  if (depth_ == 0 || (c == '}' && stack_[depth_ - 1] != '{') || (c == ']' && stack_[depth_ - 1] != '[')) return false;
  if (c == '}' && !may_close_object()) return false;
  depth_--;
  state_ = depth_ == 0 ? DONE : AFTER;
  return true;
}

bool JsonConstraint::value_start(uint8_t c) {
  if (ws(c)) return blank(c);
  const JsonSchema::Node* n = node(value_node_);
  if (n && n->kind == JsonSchema::ANY) n = nullptr;  // unconstrained below this point
  const JsonSchema::Kind kind = n ? n->kind : JsonSchema::ANY;
  auto is = [&](JsonSchema::Kind k) { return kind == JsonSchema::ANY || kind == k; };
  switch (c) {
    case '{':
    case '[':
      if (!is(c == '{' ? JsonSchema::OBJECT : JsonSchema::ARRAY) || depth_ == MAX_DEPTH) return false;
      stack_[depth_] = (char)c;
      frame_node_[depth_] = n ? value_node_ : -1;
      frame_prop_[depth_] = 0;
      depth_++;
      if (c == '[') value_node_ = n ? n->items : -1;
      state_ = c == '{' ? OBJ_FIRST : ARR_FIRST;
      return true;
    case '"':
      if (!is(JsonSchema::STRING) && kind != JsonSchema::ENUM) return false;
      in_enum_ = kind == JsonSchema::ENUM;
      str_.clear();
      state_ = STRING;
      string_return_ = AFTER;
      esc_ = 0;
      return true;
    case 't':
    case 'f':
      if (!is(JsonSchema::BOOLEAN)) return false;
      lit_ = c == 't' ? "rue" : "alse";
      state_ = LITERAL;
      return true;
    case 'n':
      if (!is(JsonSchema::NUL)) return false;
      lit_ = "ull";
      state_ = LITERAL;
      return true;
    default:
      if (c != '-' && !digit(c)) return false;
      if (!is(JsonSchema::NUMBER) && kind != JsonSchema::INTEGER) return false;
      num_int_ = kind == JsonSchema::INTEGER;
      num_ = c == '-' ? MINUS : c == '0' ? ZERO : INT;
      state_ = NUMBER;
      return true;
  }
}

bool JsonConstraint::end_value(uint8_t c) {
  state_ = AFTER;
  return feed(c);
}

bool JsonConstraint::feed(uint8_t c) {
  if (!ws(c)) ws_run_ = 0;
  switch (state_) {
    case START:
      if (c != '{') return false;  // JSON mode answers an object, from the first byte
      value_node_ = schema_ ? 0 : -1;
      return value_start(c);
    case OBJ_FIRST:
      if (ws(c)) return blank(c);
      if (c == '}') return close(c);
      [[fallthrough]];
    case OBJ_KEY:
      if (ws(c)) return blank(c);
      if (c != '"') return false;
      key_.clear();
      if (!key_prefix_ok()) return false;  // no property may come here
      state_ = KEY;
      string_return_ = COLON;
      esc_ = 0;
      return true;
    case KEY:
    case STRING: {
      const bool checked = (state_ == KEY && schema_) || (state_ == STRING && in_enum_);
      if (esc_ == 1) {
        if (c == 'u') esc_ = 5;
        else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') esc_ = 0;
        else return false;
        return true;
      }
      if (esc_ >= 2) {
        if (!hex(c)) return false;
        esc_ = esc_ == 2 ? 0 : esc_ - 1;
        return true;
      }
      if (c == '\\') {
        if (checked) return false;  // schema keys and enum values are matched byte for byte, without escapes
        esc_ = 1;
        return true;
      }
      if (c == '"') {
        if (state_ == KEY && schema_ && !key_done()) return false;
        if (state_ == KEY && !schema_) value_node_ = -1;
        if (state_ == STRING && in_enum_ && !enum_prefix_ok(true)) return false;
        state_ = string_return_;
        return true;
      }
      if (c < 0x20) return false;  // control characters must be escaped; bytes of multi-byte characters pass
      if (state_ == KEY && schema_) {
        key_.push_back((char)c);
        return key_prefix_ok();
      }
      if (state_ == STRING && in_enum_) {
        str_.push_back((char)c);
        return enum_prefix_ok(false);
      }
      return true;
    }
    case COLON:
      if (ws(c)) return blank(c);
      if (c != ':') return false;
      state_ = VALUE;
      return true;
    case VALUE:
      return value_start(c);
    case ARR_FIRST:
      if (c == ']') return close(c);
      return value_start(c);
    case AFTER:
      if (ws(c)) return blank(c);
      if (c == '}' || c == ']') return close(c);
      if (c != ',') return false;
      if (stack_[depth_ - 1] == '{') {
        if (!may_continue_object()) return false;
        state_ = OBJ_KEY;
      } else {
        const JsonSchema::Node* arr = node(frame_node_[depth_ - 1]);
        value_node_ = arr ? arr->items : -1;
        state_ = VALUE;
      }
      return true;
    case LITERAL:
      if (c != (uint8_t)*lit_) return false;
      if (*++lit_ == '\0') state_ = AFTER;
      return true;
    case NUMBER:
      switch (num_) {
        case MINUS:
          if (c == '0') num_ = ZERO;
          else if (digit(c)) num_ = INT;
          else return false;
          return true;
        case ZERO:
        case INT:
          if (digit(c) && num_ == INT) return true;
          if (!num_int_ && c == '.') return num_ = DOT, true;
          if (!num_int_ && (c == 'e' || c == 'E')) return num_ = E, true;
          return end_value(c);
        case DOT:
          return digit(c) ? (num_ = FRAC, true) : false;
        case FRAC:
          if (digit(c)) return true;
          if (c == 'e' || c == 'E') return num_ = E, true;
          return end_value(c);
        case E:
          if (c == '+' || c == '-') return num_ = E_SIGN, true;
          return digit(c) ? (num_ = EXP, true) : false;
        case E_SIGN:
          return digit(c) ? (num_ = EXP, true) : false;
        default:  // EXP
          if (digit(c)) return true;
          return end_value(c);
      }
    case DONE:
      return false;  // the object is closed: the answer ends
  }
  return false;
}

}  // namespace magnet
