package tokenizer

import (
	"errors"
	"fmt"

	"github.com/ardanlabs/jinja"
)

// Message is one chat turn; Role is "system", "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatOption sets a template variable beyond those every render gets, as
// llama.cpp's chat_template_kwargs and the keyword arguments of transformers'
// apply_chat_template do.
type ChatOption func(vars map[string]any)

// EnableThinking sets the template's enable_thinking variable (llama.cpp's
// --reasoning on|off). Without it the variable is undefined and the
// template's own default holds, as in transformers: Qwen3 and the large
// Qwen3.5 models open a thinking block, Qwen3.5-0.8B to 4B close an empty
// one. llama.cpp defines the variable on every render, true unless reasoning
// is switched off, so EnableThinking(true) is its default.
func EnableThinking(on bool) ChatOption {
	return func(vars map[string]any) { vars["enable_thinking"] = on }
}

// ApplyChatTemplate formats msgs as the model's prompt: its
// tokenizer.chat_template rendered with a Jinja engine, as Hugging Face
// transformers renders it. When the engine cannot render the template, the
// template's family is recognised (like llama.cpp's llm_chat_detect_template)
// and a built-in formatter is used; a model without a template gets ChatML.
// The built-in formats have no variables, so opts only reach Jinja templates.
// An error the template raises itself (raise_exception) is returned as is:
// the template understood the conversation and refused it.
// The result is meant to be encoded with parseSpecial so the markers become
// control tokens; BOS is included only if the template writes bos_token.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool, opts ...ChatOption) (string, error) {
	if t.chatTemplate == "" {
		return formatChat(chatML, msgs, addGenerationPrompt), nil
	}
	out, err := RenderChatTemplate(t.chatTemplate, msgs, addGenerationPrompt, t.specialText(t.bos), t.specialText(t.eos), opts...)
	if err == nil {
		return out, nil
	}
	if errors.As(err, new(templateException)) {
		return "", err
	}
	if format, ok := detectChatFormat(t.chatTemplate); ok {
		return formatChat(format, msgs, addGenerationPrompt), nil
	}
	return "", fmt.Errorf("chat template: %w (and no built-in format recognises it)", err)
}

// specialText is the text of a special token, "" when the model has none.
func (t *Tokenizer) specialText(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// templateException is the message of a template's raise_exception call.
type templateException string

func (e templateException) Error() string { return string(e) }

// raiseException replaces the engine's raise_exception so that a template's
// own refusal can be told apart from the engine failing on the template.
var raiseException = jinja.NewCallable("raise_exception", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	switch {
	case len(args) == 0:
		return jinja.Undefined(), templateException("raise_exception without a message")
	case args[0].IsString():
		return jinja.Undefined(), templateException(args[0].AsString())
	}
	return jinja.Undefined(), templateException(args[0].String())
})

// RenderChatTemplate renders a Hugging Face chat template (Jinja) with the
// variables transformers' apply_chat_template passes: messages,
// add_generation_prompt, bos_token, eos_token and tools (none), plus those
// opts set. The engine applies transformers' trim_blocks/lstrip_blocks
// settings.
func RenderChatTemplate(tmpl string, msgs []Message, addGenerationPrompt bool, bos, eos string, opts ...ChatOption) (string, error) {
	if tmpl == "" {
		return "", errors.New("empty chat template")
	}
	compiled, err := jinja.Compile(tmpl)
	if err != nil {
		return "", fmt.Errorf("compile chat template: %w", err)
	}
	messages := make([]any, len(msgs))
	for i, m := range msgs {
		messages[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	vars := map[string]any{
		"messages":              messages,
		"add_generation_prompt": addGenerationPrompt,
		"bos_token":             bos,
		"eos_token":             eos,
		"tools":                 nil,
	}
	for _, opt := range opts {
		opt(vars)
	}
	values := make(map[string]jinja.Value, len(vars)+1)
	for k, v := range vars {
		values[k] = jinja.FromGoValue(v)
	}
	values["raise_exception"] = raiseException
	out, err := compiled.RenderValues(values)
	if errors.As(err, new(templateException)) {
		return "", fmt.Errorf("the chat template rejects the conversation: %w", err)
	}
	if err != nil {
		return "", fmt.Errorf("render chat template: %w", err)
	}
	return out, nil
}
