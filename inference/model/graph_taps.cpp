// Taps on a TorchScript forward graph (see graph_taps.h for the method). The only translation unit that
// uses TorchScript's internal IR: graph copy, inlining of calls, constant propagation, dead-code
// elimination and the interpreter. Checked against forward hooks in tests/test_graph_taps.cpp.
#include "inference/model/graph_taps.h"

#include "inference/engine.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include <map>
#include <sstream>
#include <unordered_map>

namespace preimage {
namespace jit = torch::jit;

namespace {

std::string className(const c10::TypePtr& type) {
    if (auto cls = type->cast<c10::ClassType>())
        if (cls->name()) return cls->name()->name();
    return type->str();
}

std::string joinPath(const std::string& parent, const std::string& child) {
    return parent.empty() ? child : parent + "." + child;
}

std::string parentPath(const std::string& path) {
    auto p = path.rfind('.');
    return p == std::string::npos ? std::string() : path.substr(0, p);
}

// "forward", the tracer's "forward1", "forward2"... (one method per extra call of a traced module) and
// the compiler's "forward__0", "forward__1"... (the variants of an overloaded forward, as DenseNet's layers).
bool isForwardName(const std::string& name) {
    if (name.rfind("forward", 0) != 0) return false;
    size_t i = 7;
    if (name.compare(i, 2, "__") == 0) i += 2;
    for (; i < name.size(); ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    return true;
}

bool isWeightOp(const jit::Node* n) {
    static const std::vector<c10::Symbol> kinds = {
        c10::Symbol::fromQualString("aten::_convolution"),      c10::Symbol::fromQualString("aten::conv1d"),
        c10::Symbol::fromQualString("aten::conv2d"),            c10::Symbol::fromQualString("aten::conv3d"),
        c10::Symbol::fromQualString("aten::conv_transpose1d"),  c10::Symbol::fromQualString("aten::conv_transpose2d"),
        c10::Symbol::fromQualString("aten::conv_transpose3d"),  c10::Symbol::fromQualString("aten::linear"),
        c10::Symbol::fromQualString("aten::addmm")};
    return std::find(kinds.begin(), kinds.end(), n->kind()) != kinds.end();
}

// The `training` argument's position for ops whose training mode a tracer bakes in as a constant.
int trainingArgument(const jit::Node* n) {
    static const c10::Symbol bn = c10::Symbol::fromQualString("aten::batch_norm");
    static const c10::Symbol bnImpl = c10::Symbol::fromQualString("aten::_batch_norm_impl_index");
    static const std::vector<c10::Symbol> dropouts = {
        c10::Symbol::fromQualString("aten::dropout"), c10::Symbol::fromQualString("aten::feature_dropout"),
        c10::Symbol::fromQualString("aten::alpha_dropout"), c10::Symbol::fromQualString("aten::feature_alpha_dropout")};
    if (n->kind() == bn || n->kind() == bnImpl) return 5;
    if (std::find(dropouts.begin(), dropouts.end(), n->kind()) != dropouts.end()) return 2;
    return -1;
}

// One recorded call of a submodule's forward.
struct CallRecord {
    std::string path, kind;
    std::vector<jit::Value*> snapshots;  // one per tensor element (or one for a tensor output)
    std::vector<int> elements;           // the tuple element of each snapshot, -1 for a plain tensor
    std::string nonTensor;               // the output type when there is no tensor to tap
};

// Expands a forward graph in place: inlines calls, records module calls, folds module attributes.
class Expander {
public:
    Expander(jit::Graph& graph, const jit::Module& root, const std::string& modelName)
        : m_graph(graph), m_modelName(modelName) {
        for (const auto& item : root.named_modules()) m_modules.emplace(item.name, item.value);
        m_path[graph.inputs()[0]] = "";
    }

    void run() { expandBlock(m_graph.block()); }
    std::vector<CallRecord>& records() { return m_records; }

private:
    void expandBlock(jit::Block* block) {
        for (jit::Node* n = block->nodes().front(); n != block->return_node();) {
            while (!m_scopes.empty() && m_scopes.back().end == n) m_scopes.pop_back();
            jit::Node* next = n->next();
            switch (n->kind()) {
            case c10::prim::GetAttr:
                foldAttribute(n);
                break;
            case c10::prim::CallMethod: {
                jit::Node* before = n->prev();
                if (inlineMethod(n)) next = before->next();  // walk the inlined nodes next
                break;
            }
            case c10::prim::CallFunction: {
                jit::Node* before = n->prev();
                if (inlineFunction(n)) next = before->next();
                break;
            }
            default:
                checkTrainingMode(n);
                for (jit::Block* b : n->blocks()) expandBlock(b);
            }
            n = next;
        }
    }

    // Module values get their path; simple attributes of known modules become constants.
    void foldAttribute(jit::Node* n) {
        auto it = m_path.find(n->input(0));
        if (it == m_path.end()) return;
        const std::string& field = n->s(c10::attr::name);
        jit::Value* out = n->output();
        if (auto cls = out->type()->cast<c10::ClassType>(); cls && cls->is_module()) {
            m_path[out] = joinPath(it->second, field);
            return;
        }
        auto mod = m_modules.find(it->second);
        if (mod == m_modules.end() || !mod->second.hasattr(field)) return;
        c10::IValue value = mod->second.attr(field);
        bool simple = value.isBool() || value.isInt() || value.isDouble() || value.isNone() || value.isString();
        if (value.isTuple() || value.isIntList()) {
            simple = true;
            if (value.isTuple())
                for (const auto& e : value.toTupleRef().elements()) simple = simple && (e.isInt() || e.isDouble() || e.isBool());
        }
        if (!simple) return;
        jit::WithInsertPoint guard(n);
        auto constant = jit::tryInsertConstant(m_graph, value);
        if (!constant) return;
        if (value.isNone()) (*constant)->setType(out->type());
        out->replaceAllUsesWith(*constant);
        n->destroy();
    }

    bool inlineMethod(jit::Node* n) {
        auto cls = n->input(0)->type()->cast<c10::ClassType>();
        if (!cls) return false;  // an interface call: runs as it is
        const std::string& method = n->s(c10::attr::name);
        jit::GraphFunction* fn = jit::tryToGraphFunction(cls->getMethod(method));
        if (!fn) return false;
        auto it = m_path.find(n->input(0));
        const bool record = it != m_path.end() && !it->second.empty() && isForwardName(method);
        if (record) {
            CallRecord rec{it->second, className(cls), {}, {}, {}};
            snapshot(n, rec);
            m_scopes.push_back({n->next(), it->second});
            m_records.push_back(std::move(rec));
        }
        jit::inlineCallTo(n, fn, /*inline_optimized_graph=*/false);
        return true;
    }

    bool inlineFunction(jit::Node* n) {
        auto type = n->input(0)->type()->cast<c10::FunctionType>();
        if (!type) return false;
        jit::GraphFunction* fn = jit::tryToGraphFunction(*type->function());
        if (!fn) return false;
        n->removeInput(0);
        jit::inlineCallTo(n, fn, /*inline_optimized_graph=*/false);
        return true;
    }

    // Clones of the call's tensor result(s), placed right after the call: what a forward hook sees.
    void snapshot(jit::Node* call, CallRecord& rec) {
        jit::Value* out = call->output();
        jit::WithInsertPoint guard(call->next());
        auto cloneOf = [&](jit::Value* v) {
            return m_graph.insert(c10::aten::clone, {v});
        };
        if (out->type()->isSubtypeOf(*c10::TensorType::get())) {
            rec.snapshots.push_back(cloneOf(out));
            rec.elements.push_back(-1);
        } else if (auto tuple = out->type()->cast<c10::TupleType>()) {
            for (size_t i = 0; i < tuple->elements().size(); ++i) {
                if (!tuple->elements()[i]->isSubtypeOf(*c10::TensorType::get())) continue;
                jit::Node* index = m_graph.insertNode(
                    m_graph.createTupleIndex(out, m_graph.insertConstant(int64_t(i)), tuple->elements()[i]));
                rec.snapshots.push_back(cloneOf(index->output()));
                rec.elements.push_back(int(i));
            }
            if (rec.snapshots.empty()) rec.nonTensor = out->type()->str();
        } else {
            rec.nonTensor = out->type()->str();
        }
    }

    // A tracer records BatchNorm and Dropout with their training flag as a constant.
    void checkTrainingMode(jit::Node* n) {
        int arg = trainingArgument(n);
        if (arg < 0 || int(n->inputs().size()) <= arg) return;
        auto flag = jit::toIValue(n->input(size_t(arg)));
        if (!flag || !flag->isBool() || !flag->toBool()) return;
        if (arg == 2) {  // dropout: scripted code may call it with training=True and a rate of 0 in eval mode
            auto p = jit::toIValue(n->input(1));
            if (!p || !p->isDouble() || p->toDouble() == 0.0) return;
        }
        std::string where = m_scopes.empty() ? std::string("the network") : "module '" + m_scopes.back().path + "'";
        throw Error("model '" + m_modelName + "' was traced in training mode: " + where + " has " +
                    n->kind().toUnqualString() +
                    " with training=True baked in; call model.eval() before torch.jit.trace and save it again");
    }

    struct Scope {
        jit::Node* end;  // the first node after the inlined call
        std::string path;
    };
    jit::Graph& m_graph;
    std::string m_modelName;
    std::map<std::string, jit::Module> m_modules;
    std::unordered_map<jit::Value*, std::string> m_path;
    std::vector<CallRecord> m_records;
    std::vector<Scope> m_scopes;
};

// Assigns every node a position in execution order (nested blocks included).
void numberNodes(jit::Block* block, std::unordered_map<const jit::Node*, int>& order, int& counter) {
    for (jit::Node* n : block->nodes()) {
        order[n] = counter++;
        for (jit::Block* b : n->blocks()) numberNodes(b, order, counter);
    }
}

}  // namespace

struct GraphTaps::Impl {
    jit::Module module;
    std::string modelName;
    std::shared_ptr<jit::Graph> full;  // outputs: the network's output, then one per tap
    std::vector<GraphTap> taps;
    std::vector<size_t> tapOutput;     // taps[i]'s output index in `full`
    std::map<std::string, std::string> nonTensor;  // module path -> output type, for modules with no tensor
    int totalWeights = 0;
    std::unique_ptr<jit::Code> fullCode;
    std::map<int, std::unique_ptr<jit::Code>> tapCode;

    std::vector<c10::IValue> run(jit::Code& code, const at::Tensor& x) {
        jit::Stack stack{module._ivalue(), x};
        jit::InterpreterState(code).run(stack);
        return stack;
    }

    std::shared_ptr<jit::Graph> cutAt(int tap) {
        auto g = full->copy();
        jit::Value* value = g->outputs()[tapOutput[size_t(tap)]];
        jit::Node* snap = value->node();
        while (!g->outputs().empty()) g->eraseOutput(g->outputs().size() - 1);
        g->registerOutput(value);
        for (jit::Node* n = g->return_node()->prev(); n != snap;) {
            jit::Node* prev = n->prev();
            n->destroy();
            n = prev;
        }
        // Nothing runs after the snapshot any more, so its clone is not needed: return what it copies.
        if (snap->kind() == c10::aten::clone && snap->owningBlock() == g->block()) {
            g->eraseOutput(0);
            g->registerOutput(snap->input(0));
            snap->destroy();
        }
        jit::EliminateDeadCode(g);
        return g;
    }
};

GraphTaps::GraphTaps(const torch::jit::Module& module, const std::string& modelName) : m_impl(std::make_unique<Impl>()) {
    auto& I = *m_impl;
    I.module = module;
    I.modelName = modelName;
    if (!module.find_method("forward")) throw Error("model '" + modelName + "' has no forward() method");
    auto& fn = jit::toGraphFunction(module.get_method("forward").function());
    I.full = fn.graph()->copy();
    auto& g = *I.full;

    // One image input: further inputs must have defaults, which become constants.
    const auto& args = fn.getSchema().arguments();
    if (g.inputs().size() < 2) throw Error("model '" + modelName + "': forward() takes no input");
    for (size_t i = g.inputs().size(); i-- > 2;) {
        if (i >= args.size() || !args[i].default_value())
            throw Error("model '" + modelName + "': forward() takes " + std::to_string(g.inputs().size() - 1) +
                        " inputs (" + (i < args.size() ? "'" + args[i].name() + "'" : std::string("?")) +
                        " has no default); Preimage inverts networks of one image input: wrap the model in a module whose "
                        "forward takes the image alone, then script or trace that");
        jit::WithInsertPoint guard(g.block()->nodes().front());
        g.inputs()[i]->replaceAllUsesWith(g.insertConstant(*args[i].default_value()));
        g.eraseInput(i);
    }

    Expander expander(g, module, modelName);
    expander.run();
    auto& records = expander.records();
    if (records.empty())
        throw Error("model '" + modelName +
                    "' has no submodule calls left in its forward graph (frozen with torch.jit.freeze, or fully "
                    "inlined): save the model with torch.jit.script(model) or torch.jit.trace(model, x) without freezing "
                    "or optimize_for_inference");

    // Simplify: the folded attributes remove `if self.training` branches and the like. Each snapshot is
    // kept alive through the passes by a side-effecting keeper (prim::Print, never run) tagged with its
    // index; a snapshot in a branch that folding removed disappears with its keeper. Then every snapshot
    // at the top level becomes an extra output; one still inside an if or loop is a tap with a problem.
    const c10::Symbol kTag = c10::Symbol::attr("preimage_snapshot");
    struct Pending {
        size_t record, snapshot;
    };
    std::vector<Pending> pending;
    for (size_t r = 0; r < records.size(); ++r) {
        for (size_t s = 0; s < records[r].snapshots.size(); ++s) {
            jit::Value* v = records[r].snapshots[s];
            jit::Node* keeper = g.create(c10::prim::Print, {v}, 0);
            keeper->i_(kTag, int64_t(pending.size()));
            keeper->insertAfter(v->node());
            pending.push_back({r, s});
        }
        if (!records[r].nonTensor.empty()) I.nonTensor[records[r].path] = records[r].nonTensor;
    }
    jit::ConstantPropagation(I.full);
    jit::EliminateDeadCode(I.full);
    std::vector<jit::Value*> snapshotValue(pending.size(), nullptr);
    std::vector<bool> insideBlock(pending.size(), false);
    for (jit::Node* keeper : jit::findAllNodes(g, c10::prim::Print, /*recurse=*/true)) {
        if (!keeper->hasAttribute(kTag)) continue;
        const auto k = size_t(keeper->i(kTag));
        snapshotValue[k] = keeper->input(0);
        insideBlock[k] = keeper->owningBlock() != g.block();
        keeper->destroy();
    }
    std::vector<size_t> outputOf(pending.size(), 0);
    for (size_t k = 0; k < pending.size(); ++k)
        if (snapshotValue[k] && !insideBlock[k]) outputOf[k] = g.registerOutput(snapshotValue[k]);
    // Snapshots inside blocks keep their position for ordering until the next pass removes them.

    std::unordered_map<const jit::Node*, int> order;
    int counter = 0;
    numberNodes(g.block(), order, counter);
    std::vector<int> weightsBefore(size_t(counter) + 1, 0);  // weight ops at positions <= i
    {
        std::vector<const jit::Node*> byPosition(static_cast<size_t>(counter));
        for (const auto& [node, pos] : order) byPosition[size_t(pos)] = node;
        int w = 0;
        for (int i = 0; i < counter; ++i) {
            if (isWeightOp(byPosition[size_t(i)])) ++w;
            weightsBefore[size_t(i)] = w;
        }
        I.totalWeights = w;
    }

    // Calls per module path, for "#k" names.
    std::map<std::string, int> calls, seen;
    for (const auto& r : records) ++calls[r.path];
    std::vector<int> callNumber(records.size());
    for (size_t r = 0; r < records.size(); ++r) callNumber[r] = ++seen[records[r].path];

    struct Entry {
        int position;
        GraphTap tap;
        size_t output;
    };
    std::vector<Entry> entries;
    for (size_t k = 0; k < pending.size(); ++k) {
        if (!snapshotValue[k]) continue;  // in a branch that never runs
        const auto& rec = records[pending[k].record];
        GraphTap t;
        t.module = rec.path;
        t.parent = parentPath(rec.path);
        t.kind = rec.kind;
        t.calls = calls[rec.path];
        t.call = t.calls > 1 ? callNumber[pending[k].record] : 0;
        t.element = rec.elements[pending[k].snapshot];
        t.name = rec.path + (t.call ? "#" + std::to_string(t.call) : "") +
                 (t.element >= 0 ? "[" + std::to_string(t.element) + "]" : "");
        const jit::Node* node = snapshotValue[k]->node();
        int position = order.count(node) ? order[node] : counter;
        t.weightDepth = position < counter ? weightsBefore[size_t(position)] : I.totalWeights;
        if (insideBlock[k]) {
            const std::string& enclosing = t.parent;
            t.problem = "tap '" + t.name + "' is computed inside data-dependent control flow (an if or loop of forward()); "
                        "choose an enclosing module" + (enclosing.empty() ? std::string() : " such as '" + enclosing + "'") +
                        ", or export the model with torch.jit.trace";
        }
        entries.push_back({position, t, outputOf[k]});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.position < b.position; });
    for (auto& e : entries) {
        I.taps.push_back(e.tap);
        I.tapOutput.push_back(e.output);
    }
    jit::EliminateDeadCode(I.full);  // the clones of taps inside blocks
    I.fullCode = std::make_unique<jit::Code>(I.full, "preimage_full");
}

GraphTaps::~GraphTaps() = default;

const std::vector<GraphTap>& GraphTaps::taps() const { return m_impl->taps; }
int GraphTaps::totalWeightLayers() const { return m_impl->totalWeights; }

at::Tensor GraphTaps::forward(const at::Tensor& x, std::vector<at::Tensor>* tapValues) {
    auto& I = *m_impl;
    auto out = I.run(*I.fullCode, x);
    if (tapValues) {
        tapValues->clear();
        for (size_t i = 0; i < I.taps.size(); ++i) tapValues->push_back(out.at(I.tapOutput[i]).toTensor());
    }
    const auto& result = out.at(0);
    if (result.isTensor()) return result.toTensor();
    if (result.isTuple() && !result.toTupleRef().elements().empty() && result.toTupleRef().elements()[0].isTensor())
        return result.toTupleRef().elements()[0].toTensor();
    throw Error("model '" + I.modelName + "': forward() returns " + result.tagKind() + ", not a tensor");
}

at::Tensor GraphTaps::forwardTo(const at::Tensor& x, int tap) {
    auto& I = *m_impl;
    const auto& t = I.taps.at(size_t(tap));
    if (!t.problem.empty()) throw Error("model '" + I.modelName + "': " + t.problem);
    auto& code = I.tapCode[tap];
    if (!code) code = std::make_unique<jit::Code>(I.cutAt(tap), "preimage_tap");
    return I.run(*code, x).at(0).toTensor();
}

int GraphTaps::find(const std::string& name) const {
    const auto& I = *m_impl;
    std::vector<std::string> candidates;
    for (size_t i = 0; i < I.taps.size(); ++i) {
        if (I.taps[i].name == name) return int(i);
        if (I.taps[i].module == name) candidates.push_back(I.taps[i].name);
    }
    auto list = [](const std::vector<std::string>& names) {
        std::string s;
        for (size_t i = 0; i < names.size() && i < 6; ++i) s += (i ? ", " : "") + names[i];
        if (names.size() > 6) s += ", ...";
        return s;
    };
    if (!candidates.empty()) {
        bool tuple = candidates[0].find('[') != std::string::npos;
        bool several = candidates[0].find('#') != std::string::npos;
        std::string why = several ? "is called " + std::to_string(I.taps[size_t(find(candidates[0]))].calls) + " times"
                                  : std::string("returns a tuple");
        if (tuple && several) why += " and returns a tuple";
        throw Error("model '" + I.modelName + "': module '" + name + "' " + why + "; choose one of " + list(candidates));
    }
    if (auto it = I.nonTensor.find(name); it != I.nonTensor.end())
        throw Error("model '" + I.modelName + "': module '" + name + "' returns " + it->second +
                    ", which holds no tensor to invert; choose one of its submodules");
    std::vector<std::string> names;
    for (const auto& t : I.taps) names.push_back(t.name);
    throw Error("model '" + I.modelName + "' has no layer '" + name + "'; layers are: " + list(names) + " (" +
                std::to_string(names.size()) + " in all; see `preimage layers`)");
}

std::string GraphTaps::graphText(int tap) {
    std::ostringstream ss;
    ss << *m_impl->cutAt(tap);
    return ss.str();
}

}  // namespace preimage
